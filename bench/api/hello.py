"""The baseline: a hello-world FastAPI app, served the same way as the API (uvicorn, 2 workers)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}

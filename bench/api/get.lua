-- GET with a bearer token (AQUA_TOKEN; empty for the hello-world baseline).
local token = os.getenv("AQUA_TOKEN") or ""
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
dofile(os.getenv("AQUA_BENCH_DIR") .. "/report.lua")

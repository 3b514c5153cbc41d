"""locust's own CLI on one endpoint, as fast as it goes: no wait, FastHttpUser (bench only)."""

import os

from locust import FastHttpUser, task

PATH = os.environ["AQUA_BENCH_PATH"]
HEADERS = {"Authorization": f"Bearer {os.environ['AQUA_BENCH_TOKEN']}"}


class Summary(FastHttpUser):
    @task
    def summary(self) -> None:
        self.client.get(PATH, headers=HEADERS)

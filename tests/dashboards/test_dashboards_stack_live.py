"""The stack serves its dashboards: `aqua stack up` prints the agent's page with the stack's
token, the page refuses a browser without it, and with it draws the API's panels from the
stack's own Prometheus as traffic comes in; Chromium renders it without a console message."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dashboards.page_check import figures, undrawn
from headless_chromium import shoot
from stack.stack_harness import Stack, lite_stack

pytestmark = pytest.mark.integration

#: panels a lite stack with API traffic and its agent feeds
DRAWN = ("Requests per second by status", "Requests in flight per replica", "API replicas up")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from lite_stack(tmp_path_factory.mktemp("dashboards-stack"))


def test_the_stack_serves_its_dashboards_behind_its_token(stack: Stack, tmp_path: Path) -> None:
    again = stack.up("--lite", "--api-replicas", "2")  # already up: the URLs again
    found = re.search(r"Dashboards\s+(http://\S+/dashboards/\?token=\S+)", again.stdout)
    assert found is not None, again.stdout
    url = found.group(1)
    done = subprocess.run(
        [sys.executable, "-m", "sre_cli", "dashboards", "url", "--state-dir", str(stack.state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, url)
    bare = url.split("?")[0]
    assert httpx.get(bare, timeout=30).status_code == 401

    entry = next(c["url"] for c in stack.plan()["components"] if c["kind"] == "nginx")
    deadline = time.monotonic() + 120
    missing: list[str] = list(DRAWN)
    text = ""
    with httpx.Client(timeout=60) as client:
        while missing and time.monotonic() < deadline:
            for _ in range(20):
                client.get(f"{entry}/api/v1/ponds")  # 401s: traffic all the same
            text = client.get(url).text
            states = {title: state for state, title in figures(text)}
            missing = [t for t in DRAWN if states.get(t) != "data"]
    assert missing == [], undrawn(text)
    assert not any(state == "error" for state, _ in figures(text)), undrawn(text)
    page = tmp_path / "served.html"
    page.write_text(text)
    shot = shoot(page, tmp_path)
    assert shot.console == []
    assert len(shot.png.colours()) > 50

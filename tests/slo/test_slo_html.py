"""The headless-Chromium checks the HTML report test relies on can fail: a page that throws is
caught on the console, and a blank page reads as one colour. The report itself is rendered in
Chromium from a real Prometheus in test_slo_prometheus.py."""

from __future__ import annotations

from pathlib import Path

from headless_chromium import SIZE, shoot


def test_console_errors_and_blank_pages_are_seen(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        "<!doctype html><html><body style='background:#fff'>"
        "<script>throw new Error('boom from the page')</script></body></html>"
    )
    shot = shoot(page, tmp_path)
    assert any("boom from the page" in line for line in shot.console), shot.console
    assert (shot.png.width, shot.png.height) == SIZE
    assert shot.png.colours() == {(255, 255, 255)}

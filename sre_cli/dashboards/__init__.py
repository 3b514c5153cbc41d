"""The shipped Grafana dashboards drawn by aqua itself from a Prometheus, as one HTML page.

- :mod:`~sre_cli.dashboards.spec`: :func:`load_dashboards` (Grafana JSON → panels, targets)
- :mod:`~sre_cli.dashboards.engine`: :func:`evaluate` (every panel's range queries)
- :mod:`~sre_cli.dashboards.page`: :func:`~sre_cli.dashboards.page.page` (the HTML)

Example::

    board = evaluate(load_dashboards(DEFAULT_DIR), prom, end=time.time())
    html_text = page(board)
"""

from __future__ import annotations

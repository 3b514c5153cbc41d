"""Overnight dissolved-oxygen forecasting for aquaculture ponds.

The package holds a pond oxygen-budget simulator (numpy), the forecasting network (torch),
the classical farm baselines it is measured against, the HTTP service that serves it and the
async client other services use to call it. Importing ``service.ml`` is cheap: torch, numpy and
fastapi are imported by the submodules that need them.

    python -m service.ml train --out service/ml/weights/ --seed 7
    python -m service.ml evaluate --ponds 80 --seed 11 --json
"""

__all__: list[str] = []

"""``python -m service.ml {train,evaluate,serve}``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.ml", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="simulate ponds and train the network deterministically")
    t.add_argument("--out", type=Path, default=Path("service/ml/weights"))
    t.add_argument("--seed", type=int, default=7)
    t.add_argument("--ponds", type=int, default=None)
    t.add_argument("--epochs", type=int, default=None)
    e = sub.add_parser("evaluate", help="score the served model and the baselines on new ponds")
    e.add_argument("--ponds", type=int, default=80)
    e.add_argument("--seed", type=int, default=11)
    e.add_argument("--weights", type=Path, default=None)
    e.add_argument("--threshold", type=float, default=3.0)
    e.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    e.add_argument("--markdown", action="store_true", help="full and per-regime tables")
    s = sub.add_parser("serve", help="run the HTTP service")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)

    if args.command == "train":
        from dataclasses import replace

        from service.ml.train import TrainConfig, train

        config = TrainConfig(seed=args.seed)
        if args.ponds is not None:
            config = replace(config, ponds=args.ponds)
        if args.epochs is not None:
            config = replace(config, epochs=args.epochs)
        train(args.out, config, log=lambda m: print(m, file=sys.stderr, flush=True))
        return 0
    if args.command == "evaluate":
        import torch

        from service.ml.evaluate import evaluate, markdown, verdict
        from service.ml.inference import Forecaster
        from service.ml.serving import DEFAULT_WEIGHTS

        torch.set_num_threads(int(os.environ.get("AQUA_ML_THREADS", "1")))
        forecaster = Forecaster.load(args.weights or DEFAULT_WEIGHTS)
        evaluation, pred = evaluate(forecaster, args.ponds, args.seed, args.threshold)
        if args.json:
            print(json.dumps(evaluation.model_dump()))
        elif args.markdown:
            print(markdown(evaluation, pred, args.threshold))
        else:
            print(markdown(evaluation, pred, args.threshold))
            print()
            print("\n".join(verdict(evaluation)))
        return 0
    import uvicorn

    from service.common.logs import configure_logging
    from service.ml.app import create_app
    from service.ml.settings import MLSettings

    settings = MLSettings()
    # AQUA_LOG_JSON and AQUA_LOG_LEVEL, like the API and the worker; uvicorn keeps our handler.
    configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_config=None,
        log_level=settings.log_level.lower(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

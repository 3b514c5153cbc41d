"""Deterministic offline training of the overnight DO network.

``python -m service.ml train --out service/ml/weights/ --seed 7`` simulates ponds from the
seed, trains on 85 % of them and validates on the rest (split by pond), picks the alarm
probability on the validation ponds and writes ``model.pt`` and ``manifest.json``. Torch runs
single-threaded with deterministic algorithms, so the same seed on the same software gives
the same weights.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from service.ml.dataset import TRAIN_STREAM, LabelledNights, generate
from service.ml.evaluate import DEFAULT_THRESHOLD, evaluate, verdict
from service.ml.features import encode, fill
from service.ml.inference import MANIFEST_FILE, WEIGHTS_FILE, Forecaster
from service.ml.metrics import choose_alarm_probability, score
from service.ml.model import (
    MIN_LEVELS,
    QUANTILES,
    ModelConfig,
    NightForecaster,
    parameter_count,
    pinball,
)
from service.ml.serving import ModelInfo

MODEL_NAME = "night-do-gru"


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 7
    ponds: int = 2000
    validation_fraction: float = 0.15
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 3e-3
    eval_ponds: int = 80
    threads: int = 1


def _tensors(nights: LabelledNights) -> tuple[torch.Tensor, ...]:
    hist, fut = encode(nights.batch)
    level = fill(nights.batch).do[:, -1].astype(np.float32)
    return (
        torch.from_numpy(hist),
        torch.from_numpy(fut),
        torch.from_numpy(level),
        torch.from_numpy(nights.target.astype(np.float32)),
    )


def _loss(
    net: NightForecaster,
    hist: torch.Tensor,
    fut: torch.Tensor,
    level: torch.Tensor,
    y: torch.Tensor,
) -> torch.Tensor:
    path, mins = net(hist, fut, level)
    q = torch.tensor(QUANTILES)
    lv = torch.tensor(MIN_LEVELS)
    return pinball(path, y[..., None], q) + pinball(mins, y.min(dim=1).values[:, None], lv)


def train(out: Path, config: TrainConfig, log: Any = print) -> dict[str, Any]:
    started = time.monotonic()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(config.seed)

    nights = generate(config.ponds, config.seed, TRAIN_STREAM)
    n_val = round(config.ponds * config.validation_fraction)
    is_val = nights.pond >= config.ponds - n_val  # ponds are i.i.d.: the last ones validate
    train_set, val_set = nights.take(np.nonzero(~is_val)[0]), nights.take(np.nonzero(is_val)[0])
    data_hash = nights.digest()
    log(
        f"data: {len(train_set)} training and {len(val_set)} validation nights, "
        f"sha256 {data_hash[:12]}"
    )

    th, tf, tl, ty = _tensors(train_set)
    vh, vf, vl, vy = _tensors(val_set)
    net = NightForecaster(ModelConfig())
    opt = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total))
    )
    gen = torch.Generator().manual_seed(config.seed)
    best_mae, best_state, best_epoch = float("inf"), net.state_dict(), -1
    for epoch in range(config.epochs):
        net.train()
        order = torch.randperm(len(train_set), generator=gen)
        for i in range(steps_per_epoch):
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            loss = _loss(net, th[idx], tf[idx], tl[idx], ty[idx])
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
        net.eval()
        with torch.inference_mode():
            path, _ = net(vh, vf, vl)
            mae = float((path[..., 1] - vy).abs().mean())
        if mae < best_mae:
            best_mae, best_epoch = mae, epoch
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        log(f"epoch {epoch + 1:2d}/{config.epochs}: validation MAE {mae:.4f}")
    net.load_state_dict(best_state)
    net.eval()

    version = f"{MODEL_NAME}-s{config.seed}-{data_hash[:8]}"
    probe = Forecaster(net, ModelInfo(version, parameter_count(net), 0.5, {}))
    fc = probe.predict(val_set.batch)
    actual = val_set.target.min(axis=1) < DEFAULT_THRESHOLD
    alarm_p = choose_alarm_probability(
        fc.prob_below(np.full(len(val_set), DEFAULT_THRESHOLD)), actual
    )
    forecaster = Forecaster(net, ModelInfo(version, parameter_count(net), alarm_p, {}))
    val_score = score(
        fc.p50,
        fc.night_min,
        forecaster.alarms(fc, np.full(len(val_set), DEFAULT_THRESHOLD)),
        val_set.target,
        DEFAULT_THRESHOLD,
    )
    evaluation, _ = evaluate(forecaster, config.eval_ponds, config.seed)

    out.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"config": net.config.as_dict(), "state_dict": best_state, "alarm_probability": alarm_p},
        out / WEIGHTS_FILE,
    )
    manifest: dict[str, Any] = {
        "version": version,
        "model": MODEL_NAME,
        "parameters": parameter_count(net),
        "seed": config.seed,
        "data_sha256": data_hash,
        "training": {
            "ponds": config.ponds,
            "train_nights": len(train_set),
            "validation_nights": len(val_set),
            "epochs": config.epochs,
            "best_epoch": best_epoch + 1,
            "batch_size": config.batch_size,
            "learning_rate": config.learning_rate,
            "torch": torch.__version__.split("+")[0],
        },
        "threshold_mg_l": DEFAULT_THRESHOLD,
        "alarm_probability": alarm_p,
        "metrics": {
            "validation": val_score.model_dump(),
            "evaluation": evaluation.model_dump(),
        },
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    for line in verdict(evaluation):
        log(line)
    log(
        f"wrote {out / WEIGHTS_FILE} ({parameter_count(net)} parameters) "
        f"in {time.monotonic() - started:.0f} s"
    )
    return manifest

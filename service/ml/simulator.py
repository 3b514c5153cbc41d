"""Vectorised pond dissolved-oxygen simulator.

``simulate(n_ponds, days, seed)`` draws ``n_ponds`` random ponds and integrates the oxygen
budget of :mod:`service.ml.physics` for ``days`` days at 15-minute steps, all ponds at once
with numpy. Everything is determined by the seed. Outputs are hourly: instantaneous DO,
temperature and wind at the hour mark, light, feed and aeration as hour-ending means or sums.

Per pond (uniform unless noted): depth 0.8-2.0 m; salinity 0 (75 %) or 2-25 PSU; mean Chl
40-250 µg/L (log-uniform) with a daily log-AR(1) and plankton die-offs (daily probability
1 % + 5 % (Chl/250)², losing 40-80 % of Chl, whose oxygen demand, 40 mg O2 per mg Chl, goes to
the BOD pool); PB20 7-12 mg O2/mg Chl/h; Ik 150-250 µmol/m²/s; plankton respiration 10-15 % of
PB20·Chl; SOD20 1-3 g/m²/d; BOD decay 0.1-0.3 /d; 5-15 % of feed mass becomes labile BOD;
stocking 1-11 t/ha of 30-600 g fish (log-uniform) growing by the thermal-unit growth
coefficient (TGC 0.0010-0.0020, tilapia, temperature capped at the 30 °C optimum), fed two
meals a day (07:00-09:00 and 15:00-17:00) at 1.2-2.5 % of biomass; installed aeration 0 (15 %)
or 1-6 kW/ha.

Forcing: Key West water temperature (real, :mod:`service.ml.forcing`) from a random day, plus a
pond offset of -3..+1 °C and a daily cycle peaking at 15:00 whose amplitude shrinks with depth
and cloud; cloud and wind are AR(1) processes; light from solar geometry and cloud.

Each evening at 20:00 the farmer picks tonight's aeration plan (hours 20:00-06:00) from the
20:00 DO reading: below the farmer's comfort level (4-7 mg/L) aerators run with probability
0.75, otherwise 0.25, starting at 20:00, 22:00, 00:00 or 02:00 at half or full power. The plan
is then applied as announced, so it is a known input of the forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from service.ml import physics
from service.ml.forcing import (
    TemperatureSeries,
    ar1,
    cloud_dimming,
    keywest_temperature,
    solar_par_clear,
)
from service.ml.saturation import FloatArray, do_saturation, k_o2_m_h

SUBSTEPS = 4
ISSUE_HOUR = 20
HORIZON = 10  # forecast hours 21:00 .. 06:00
NIGHT_START_OFFSETS = (0, 2, 4, 6)  # plan starts at 20:00, 22:00, 00:00, 02:00
DIEOFF_O2_PER_CHL = 40.0  # mg O2 demand per mg of dead chlorophyll-bearing biomass
MORTALITY_PER_H = 0.05  # hazard per hour per mg/L below 1.5 mg/L


@dataclass(frozen=True)
class PondParams:
    """Static parameters of ``n`` ponds, one array entry per pond."""

    depth_m: FloatArray
    salinity_psu: FloatArray
    chl_mean: FloatArray
    pb20: FloatArray
    ik: FloatArray
    resp_frac: FloatArray
    sod20: FloatArray
    k_bod: FloatArray
    feed_bod_frac: FloatArray
    body_g0: FloatArray
    biomass0_kg_ha: FloatArray
    tgc: FloatArray
    feed_rate: FloatArray
    meal1_hour: FloatArray
    meal2_hour: FloatArray
    aerator_kw_ha: FloatArray
    farmer_level: FloatArray
    wind_mean: FloatArray
    temp_offset: FloatArray
    cloud_logit: FloatArray

    @classmethod
    def sample(cls, n: int, rng: np.random.Generator) -> PondParams:
        def u(lo: float, hi: float) -> FloatArray:
            return rng.uniform(lo, hi, n)

        def logu(lo: float, hi: float) -> FloatArray:
            return np.exp(rng.uniform(np.log(lo), np.log(hi), n))

        saline = rng.random(n) < 0.25
        has_aerator = rng.random(n) >= 0.15
        return cls(
            depth_m=u(0.8, 2.0),
            salinity_psu=np.where(saline, u(2.0, 25.0), 0.0),
            chl_mean=logu(40.0, 250.0),
            pb20=u(7.0, 12.0),
            ik=u(150.0, 250.0),
            resp_frac=u(0.10, 0.15),
            sod20=u(1.0, 3.0),
            k_bod=u(0.1, 0.3),
            feed_bod_frac=u(0.05, 0.15),
            body_g0=logu(30.0, 600.0),
            biomass0_kg_ha=u(1000.0, 11000.0),
            tgc=u(0.0010, 0.0020),
            feed_rate=u(0.012, 0.025),
            meal1_hour=rng.integers(7, 10, n).astype(np.float64),
            meal2_hour=rng.integers(15, 18, n).astype(np.float64),
            aerator_kw_ha=np.where(has_aerator, u(1.0, 6.0), 0.0),
            farmer_level=u(4.0, 7.0),
            wind_mean=u(1.5, 4.5),
            temp_offset=u(-3.0, 1.0),
            cloud_logit=u(-2.0, 0.0),
        )

    def take(self, index: np.ndarray) -> PondParams:
        return PondParams(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass(frozen=True)
class HourlyChannels:
    """What a pond records every hour: its sensors (dissolved oxygen, water temperature,
    light, wind) and its log (feed, aeration); one array per channel, hours on the last axis.
    A simulation (:class:`PondRun`) holds them as truth, a forecast window
    (:class:`service.ml.dataset.NightBatch`) as the history the model reads."""

    do: FloatArray
    temp_c: FloatArray
    light: FloatArray
    wind: FloatArray
    feed_kg_ha: FloatArray
    aeration_kw_ha: FloatArray


@dataclass(frozen=True)
class PondRun(HourlyChannels):
    """Hourly truth of a simulation: arrays of shape (ponds, hours); hour 0 is midnight."""

    params: PondParams
    chl: FloatArray
    bod: FloatArray
    biomass_kg_ha: FloatArray
    body_g: FloatArray
    cs: FloatArray
    dieoff: np.ndarray

    @property
    def hours(self) -> int:
        return int(self.do.shape[1])

    def issue_indices(self, history: int = 48) -> np.ndarray:
        """Hour indices of 20:00 issue times with ``history`` hours before and a night after."""
        t = np.arange(ISSUE_HOUR, self.hours - HORIZON, 24)
        return t[t >= max(history, 48)]


def _daily_to_hourly(daily: FloatArray) -> FloatArray:
    return np.repeat(daily, 24, axis=1)


def simulate(
    n_ponds: int,
    days: int,
    seed: int | np.random.SeedSequence,
    *,
    temperature: TemperatureSeries | None = None,
) -> PondRun:
    """Simulate ``n_ponds`` random ponds for ``days`` days, deterministically from ``seed``."""
    rng = np.random.default_rng(seed)
    series = temperature or keywest_temperature()
    p = PondParams.sample(n_ponds, rng)
    hours = days * 24
    n = n_ponds

    # --- forcing, hourly --------------------------------------------------------------------
    starts = series.episode_starts(hours + 1)
    start = rng.choice(starts, size=n)
    idx = start[:, None] + np.arange(hours + 1)[None, :]
    cloud_day = 1.0 / (1.0 + np.exp(-(p.cloud_logit[:, None] + ar1(rng, (n, days + 1), 0.6, 1.2))))
    cloud_h = np.clip(
        _daily_to_hourly(cloud_day)[:, : hours + 1] + rng.normal(0.0, 0.08, (n, hours + 1)),
        0.0,
        1.0,
    )
    amplitude = np.clip(1.3 / p.depth_m, 0.5, 1.6)[:, None] * (1.0 - 0.5 * cloud_h)
    hod = np.arange(hours + 1) % 24
    temp = (
        series.temp_c[idx]
        + p.temp_offset[:, None]
        + amplitude * np.sin(2.0 * np.pi * (hod[None, :] - 9.0) / 24.0)
    )
    wind_day = p.wind_mean[:, None] * np.exp(ar1(rng, (n, days + 1), 0.5, 0.35) - 0.06)
    diurnal = 1.0 + 0.35 * np.sin(2.0 * np.pi * (hod - 9.0) / 24.0)
    wind = np.clip(
        _daily_to_hourly(wind_day)[:, : hours + 1]
        * diurnal[None, :]
        * np.exp(ar1(rng, (n, hours + 1), 0.7, 0.25)),
        0.0,
        None,
    )

    # --- forcing at sub-steps: interval (t-1, t] is integrated with forcing of index t ------
    sub_t = (np.arange(hours * SUBSTEPS) + 0.5) / SUBSTEPS  # hours since start
    frac = sub_t - np.floor(sub_t)
    lo = np.floor(sub_t).astype(np.int64)
    temp_s = temp[:, lo] * (1.0 - frac) + temp[:, lo + 1] * frac
    doy = series.day_of_year(start[:, None] + sub_t[None, :])
    light_s = solar_par_clear(doy, (sub_t % 24.0)[None, :]) * cloud_dimming(cloud_h[:, lo + 1])
    wind_s = wind[:, lo + 1]

    # --- plankton: daily log-AR(1) towards the pond mean, die-offs at a random hour ---------
    chl_h = np.empty((n, hours + 1))
    dieoff_load = np.zeros((n, hours + 1))
    dieoff = np.zeros((n, days), dtype=bool)
    log_chl = np.log(p.chl_mean) + rng.normal(0.0, 0.2, n)
    die_hour = rng.integers(0, 24, (n, days))
    die_u = rng.random((n, days))
    die_frac = rng.uniform(0.4, 0.8, (n, days))
    noise = rng.normal(0.0, 0.08, (n, days))
    for t in range(hours + 1):
        d, h = divmod(t, 24)
        if h == 0 and d < days:
            log_chl = log_chl + 0.15 * (np.log(p.chl_mean) - log_chl) + noise[:, d]
        if d < days:
            chl_now = np.exp(log_chl)
            hit = (die_hour[:, d] == h) & (die_u[:, d] < 0.01 + 0.05 * (chl_now / 250.0) ** 2)
            if hit.any():
                lost = chl_now * die_frac[:, d] * hit
                dieoff_load[:, t] = lost / 1000.0 * DIEOFF_O2_PER_CHL
                log_chl = np.log(chl_now - lost)
                dieoff[:, d] |= hit
        chl_h[:, t] = np.exp(log_chl)
    chl_s = chl_h[:, lo + 1]

    z = p.depth_m[:, None]
    cs_s = do_saturation(temp_s, p.salinity_psu[:, None])
    gpp_s = physics.gpp(light_s, chl_s, z, temp_s, p.pb20[:, None], p.ik[:, None])
    k_s = k_o2_m_h(wind_s, temp_s) / z

    # --- state --------------------------------------------------------------------------------
    do = 0.9 * cs_s[:, 0]
    body = p.body_g0.copy()
    alive = np.ones(n)
    satiety = np.zeros(n)
    daily_feed0 = p.biomass0_kg_ha * p.feed_rate
    bod = daily_feed0 * p.feed_bod_frac * physics.KG_HA_TO_MG_L / p.depth_m / p.k_bod
    plan_offset = np.full(n, 99.0)
    plan_power = np.zeros(n)
    dt = 1.0 / SUBSTEPS
    daily_temp = temp[:, :hours].reshape(n, days, 24).mean(axis=2)

    out = {k: np.empty((n, hours)) for k in ("do", "feed", "aer", "bod", "biomass", "body")}
    out["do"][:, 0] = do
    out["feed"][:, 0] = 0.0
    out["aer"][:, 0] = 0.0
    out["bod"][:, 0] = bod
    out["body"][:, 0] = body
    out["biomass"][:, 0] = p.biomass0_kg_ha
    plan_u = rng.random((n, days))
    plan_start = rng.choice(np.array(NIGHT_START_OFFSETS, dtype=np.float64), size=(n, days))
    plan_half = rng.random((n, days)) < 0.35
    farmer_noise = rng.normal(0.0, 0.15, (n, days))

    for t in range(1, hours):
        h0 = (t - 1) % 24  # the interval (t-1, t] starts at clock hour h0
        d = (t - 1) // 24
        biomass = p.biomass0_kg_ha * alive * body / p.body_g0
        if h0 == 0 and d > 0:
            tc = np.minimum(daily_temp[:, d - 1], 30.0)
            body = (body ** (1.0 / 3.0) + p.tgc * tc) ** 3
        feed = np.zeros(n)
        for meal in (p.meal1_hour, p.meal2_hour):
            at_meal = meal == h0
            if at_meal.any():
                ration = biomass * p.feed_rate * (body / 100.0) ** -0.3 / 2.0
                ration = ration * np.clip((daily_temp[:, d] - 16.0) / 10.0, 0.2, 1.0)
                feed = np.where(at_meal, ration, feed)
        satiety = satiety + (feed > 0)
        bod = bod + feed * p.feed_bod_frac * physics.KG_HA_TO_MG_L / p.depth_m + dieoff_load[:, t]
        if h0 == ISSUE_HOUR:
            reading = do + farmer_noise[:, d]
            p_on = np.where(reading < p.farmer_level, 0.75, 0.25)
            on = (plan_u[:, d] < p_on) & (p.aerator_kw_ha > 0)
            plan_offset = np.where(on, plan_start[:, d], 99.0)
            plan_power = np.where(plan_half[:, d], 0.5, 1.0) * p.aerator_kw_ha
        since = (h0 - ISSUE_HOUR) % 24
        power = np.where((since < HORIZON) & (since >= plan_offset), plan_power, 0.0)

        for k in range((t - 1) * SUBSTEPS, t * SUBSTEPS):
            tk = temp_s[:, k]
            cs = cs_s[:, k]
            rate = (
                gpp_s[:, k]
                - physics.plankton_respiration(chl_s[:, k], tk, p.pb20, p.resp_frac, do)
                - physics.sediment_demand(p.sod20, p.depth_m, tk, do)
                - physics.bod_decay(bod, p.k_bod, tk, do)
                - physics.fish_respiration(biomass, body, p.depth_m, tk, satiety, do)
                + k_s[:, k] * (cs - do)
                + physics.aeration(power, p.depth_m, tk, cs, do)
                - physics.bubble_loss(cs, do)
            )
            bod = bod - physics.bod_decay(bod, p.k_bod, tk, do) * dt
            do = np.maximum(do + rate * dt, 0.0)
            satiety = satiety * np.exp(-dt / 4.0)
            alive = alive * np.exp(-MORTALITY_PER_H * np.clip(1.5 - do, 0.0, None) * dt)

        out["do"][:, t] = do
        out["feed"][:, t] = feed
        out["aer"][:, t] = power
        out["bod"][:, t] = bod
        out["body"][:, t] = body
        out["biomass"][:, t] = p.biomass0_kg_ha * alive * body / p.body_g0

    light_h = light_s.reshape(n, hours, SUBSTEPS).mean(axis=2)
    # Hour-ending mean light at hour t covers (t-1, t]; at t = 0 use the interval after.
    light_end = np.concatenate([light_h[:, :1], light_h[:, :-1]], axis=1)
    return PondRun(
        params=p,
        do=out["do"],
        temp_c=temp[:, :hours],
        light=light_end,
        wind=wind[:, :hours],
        feed_kg_ha=out["feed"],
        aeration_kw_ha=out["aer"],
        chl=chl_h[:, :hours],
        bod=out["bod"],
        biomass_kg_ha=out["biomass"],
        body_g=out["body"],
        cs=do_saturation(temp[:, :hours], p.salinity_psu[:, None]),
        dieoff=dieoff,
    )


@dataclass(frozen=True)
class RealismSummary:
    """The note's realism gates measured on a simulation (nights issued at 20:00)."""

    dawn_do_median: float
    night_below_3_fraction: float
    afternoon_saturation_median: float
    max_biomass_t_ha: float

    def failures(self) -> list[str]:
        checks = [
            (3.0 <= self.dawn_do_median <= 7.0, f"dawn DO median {self.dawn_do_median:.2f}"),
            (
                0.10 <= self.night_below_3_fraction <= 0.35,
                f"nights below 3 mg/L {self.night_below_3_fraction:.2%}",
            ),
            (
                1.10 <= self.afternoon_saturation_median <= 1.60,
                f"afternoon saturation {self.afternoon_saturation_median:.2%}",
            ),
            (self.max_biomass_t_ha <= 20.5, f"biomass {self.max_biomass_t_ha:.1f} t/ha"),
        ]
        return [msg for ok, msg in checks if not ok]


def realism(run: PondRun) -> RealismSummary:
    """Dawn (06:00) DO, night minimum (21:00-06:00), 16:00 saturation, peak biomass."""
    idx = run.issue_indices()
    night = np.stack([run.do[:, i + 1 : i + 1 + HORIZON] for i in idx], axis=1)
    afternoon = np.stack([run.do[:, i - 4] / run.cs[:, i - 4] for i in idx], axis=1)
    return RealismSummary(
        dawn_do_median=float(np.median(night[:, :, -1])),
        night_below_3_fraction=float((night.min(axis=2) < 3.0).mean()),
        afternoon_saturation_median=float(np.median(afternoon)),
        max_biomass_t_ha=float(run.biomass_kg_ha.max() / 1000.0),
    )

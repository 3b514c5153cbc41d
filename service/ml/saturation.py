"""Dissolved-oxygen saturation and gas-transfer coefficients.

Oxygen solubility uses the Garcia & Gordon (1992) fit of Benson & Krause's data (their
"combined fit" in ml/L), converted to mg/L and corrected for barometric pressure::

    >>> round(float(do_saturation(20.0)), 2)
    9.09

Gas transfer follows Cole & Caraco (1998): ``k600 = 2.07 + 0.215 U10^1.7`` (cm/h), scaled to
oxygen by the Schmidt number, ``k = k600 (Sc/600)^-0.5``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | FloatArray

# Garcia & Gordon (1992), Table 1, "combined fit" coefficients for ml/L.
_A = (2.00907, 3.22014, 4.05010, 4.94457, -0.256847, 3.88767)
_B = (-6.24523e-3, -7.37614e-3, -1.03410e-2, -8.17083e-3)
_C0 = -4.88682e-7
_MG_PER_ML_O2 = 1.42905
STANDARD_PRESSURE_MB = 1013.25


def do_saturation(
    temp_c: ArrayLike, salinity_psu: ArrayLike = 0.0, pressure_mb: ArrayLike = STANDARD_PRESSURE_MB
) -> FloatArray:
    """Oxygen saturation concentration (mg/L) at temperature, salinity and pressure."""
    t = np.asarray(temp_c, dtype=np.float64)
    s = np.asarray(salinity_psu, dtype=np.float64)
    p = np.asarray(pressure_mb, dtype=np.float64)
    ts = np.log((298.15 - t) / (273.15 + t))
    ln_c = _A[0] + ts * (_A[1] + ts * (_A[2] + ts * (_A[3] + ts * (_A[4] + ts * _A[5]))))
    ln_c = ln_c + s * (_B[0] + ts * (_B[1] + ts * (_B[2] + ts * _B[3]))) + _C0 * s * s
    return np.asarray(np.exp(ln_c) * _MG_PER_ML_O2 * (p * 0.0987 - 0.0112) / 100.0)


def schmidt_o2(temp_c: ArrayLike) -> FloatArray:
    """Schmidt number of O2 (valid 4-35 °C; clamped to that range)."""
    t = np.clip(np.asarray(temp_c, dtype=np.float64), 4.0, 35.0)
    return np.asarray(1568.0 - 86.04 * t + 2.142 * t**2 - 0.0216 * t**3)


def k600_cm_h(wind_m_s: ArrayLike) -> FloatArray:
    """Cole & Caraco (1998) gas-transfer velocity normalised to Sc = 600, in cm/h."""
    u = np.maximum(np.asarray(wind_m_s, dtype=np.float64), 0.0)
    return np.asarray(2.07 + 0.215 * u**1.7)


def k_o2_m_h(wind_m_s: ArrayLike, temp_c: ArrayLike) -> FloatArray:
    """Oxygen transfer velocity (m/h): ``k600 (Sc/600)^-0.5``, converted from cm/h."""
    return np.asarray(k600_cm_h(wind_m_s) * (schmidt_o2(temp_c) / 600.0) ** -0.5 / 100.0)

"""``aqua doctor``: what of the real components aqua and the stack use is installed, and where."""

from sre_cli.doctor.engine import ComponentStatus, DoctorReport, run_checks

__all__ = ["ComponentStatus", "DoctorReport", "run_checks"]

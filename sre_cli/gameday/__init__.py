"""Game days: one chaos experiment, the alert it must raise, the runbook that must fix it,
measured end to end (MTTD, MTTR, error budget spent) under load on the local stack.

:mod:`.scenario` (the YAML files of ``chaos/gameday/``), :mod:`.load` (the open-model load,
watched live), :mod:`.sli` (the indicator sampled every second), :mod:`.engine` (the run) and
:mod:`.render`; the fault is :mod:`sre_cli.chaos`, the fix :mod:`sre_cli.runbook`::

    from sre_cli.gameday.engine import GamedayOptions, run
    from sre_cli.gameday.scenario import find_scenario, resolve

The package exports nothing itself: import from the module that holds a name.
"""

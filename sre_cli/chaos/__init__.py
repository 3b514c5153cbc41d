"""Game-day experiments: steady-state hypothesis, method, rollbacks, within a blast radius.

The vocabulary is chaostoolkit's, one module per concept: :mod:`.experiment` (the YAML spec,
loaded with file and line), :mod:`.hypothesis` (probes and tolerances), :mod:`.method`
(actions), :mod:`.rollback`, :mod:`.blast` (limits), :mod:`.pods` (random pod deletion and
recovery time), :mod:`.engine` (the run) and :mod:`.render`, on the operations layer
:mod:`sre_cli.ops` it shares with runbooks::

    from sre_cli.chaos.engine import RunOptions, run
    from sre_cli.chaos.experiment import load_experiment

The package exports nothing itself: import from the module that holds a name.
"""

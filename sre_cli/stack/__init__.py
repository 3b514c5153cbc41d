"""The reference stack as supervised processes on one machine, no Docker.

A stack is data: :func:`build_plan` turns :class:`StackOptions` and what the machine has into a
:class:`StackPlan` (components with ports, dependencies and readiness probes, plus what is
degraded or not available). :class:`StackControl` starts it with a background supervisor
(:mod:`.supervisor`) and drives it through the state dir (:class:`StateLayout`)::

    from sre_cli.stack.control import StackControl
    from sre_cli.stack.plan import StackOptions
    from sre_cli.stack.spec import StateLayout, default_state_dir

    ctl = StackControl(StateLayout(default_state_dir()))
    ctl.up(StackOptions(lite=True))
    ctl.request("kill", "api-1")         # the supervisor restarts it with backoff
    ctl.status().to_json()
    ctl.down()

Modules: ``spec`` (ports, specs, state-dir layout), ``plan`` (options -> plan), ``supervisor``,
``runners``/``launch``/``servers`` (how each kind starts), ``probes``, ``state``, ``control``,
``configs`` (nginx, Prometheus, Alertmanager), ``agent`` (alert receiver and health
exporter), ``seed``, ``alerts``, ``render``. The package exports nothing itself: import from
the module that holds a name.
"""

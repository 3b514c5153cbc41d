"""``aqua loadtest``: load against a loopback API, with a verdict; and the knee.

:mod:`~sre_cli.loadtest.plan` holds what a run will do (target, model, thresholds) and the
safety rules; :mod:`~sre_cli.loadtest.schedule` the open model's arrival rates;
:mod:`~sre_cli.loadtest.preflight` the checks before any load;
:mod:`~sre_cli.loadtest.results` turns recorded requests into a report and a verdict.

Two engines: the closed model (``--users``) in locust, :mod:`~sre_cli.loadtest.scenario`
building the users and :mod:`~sre_cli.loadtest.runner` driving them (only these two import
locust, and only inside functions: importing locust monkey-patches the standard library with
gevent); the open model (``--arrival-rate``, ``--stages``) in the native engine
(:mod:`~sre_cli.loadtest.native`, Go source in ``native/``) fed by
:mod:`~sre_cli.loadtest.openmodel`.

Around them: :mod:`~sre_cli.loadtest.server` (the service's SLIs over the run, through the
``slo`` engine), :mod:`~sre_cli.loadtest.baseline` (the regression gate),
:mod:`~sre_cli.loadtest.accounts` (load users), :mod:`~sre_cli.loadtest.knee` and
:mod:`~sre_cli.loadtest.saturation` (the highest sustainable rate and what ran out).
"""

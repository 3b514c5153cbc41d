"""``aqua loadtest``: locust-driven load against a loopback API, with a verdict.

:mod:`~sre_cli.loadtest.plan` holds what a run will do (target, users, duration, thresholds)
and the safety rules; :mod:`~sre_cli.loadtest.results` turns recorded requests into a report
and a verdict; :mod:`~sre_cli.loadtest.scenario` builds the locust users and
:mod:`~sre_cli.loadtest.runner` drives them. Only the last two import locust, and only inside
functions: importing locust monkey-patches the standard library with gevent.
"""

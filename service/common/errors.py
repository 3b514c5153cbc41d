"""The one exception hierarchy of the reference service (api, ml, worker).

Servers answer HTTP, not exit codes, so the service has its own root, apart from the CLI's
``sre_cli.errors``. Each server maps these to a status at its edge (the API's
``service/api/errors.py``); a caller catches the branch it can act on::

    ServiceError                                      unexpected → 500 and a log line
    ├── DependencyUnavailable                         retry later → 503 (+ Retry-After)
    │   ├── DatabaseUnavailable   data.db             the database did not answer
    │   ├── RedisUnavailable      api.softredis       Redis is down or not configured
    │   ├── QueueUnavailable      pipeline.queue      the queue did not take the message
    │   ├── DependencyDown        pipeline.handlers   the worker retries the whole batch
    │   ├── ForecastUnavailable   api.forecasts       no forecast now; maybe later
    │   └── MLUnavailable         ml.client           the ML service did not answer usefully
    │       └── CircuitOpenError  ml.client           the breaker is open: no call was made
    ├── RequestRejected                               the input is wrong → 4xx, no retry
    │   ├── MLRequestRejected     ml.client           422 from the ML service
    │   ├── NotEnoughData         data.forecast_input readings cannot make a forecast input
    │   ├── ForecastImpossible    api.forecasts       nothing stored can make a forecast
    │   ├── AuthError             api.security        401
    │   ├── RateLimited           api.deps            429
    │   ├── OrganisationConflict  api.organisations   the organisation or admin exists
    │   └── FaultsDisabled        api.faults          fault injection is off
    └── InjectedFault             api.faults          a failure injected on purpose
"""

from __future__ import annotations

__all__ = ["DependencyUnavailable", "RequestRejected", "ServiceError"]


class ServiceError(Exception):
    """Root of every failure the service raises on purpose.

    ``hint`` says what may help (for a log line or a response), apart from the message.
    """

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        self.hint = hint


class DependencyUnavailable(ServiceError):
    """A server this one depends on did not answer; the same call may work later."""


class RequestRejected(ServiceError):
    """The request itself is wrong; repeating it unchanged will fail again."""

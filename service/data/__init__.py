"""The platform's data, shared by the API and the worker: the tables (:mod:`.models`), the
validated request and response bodies (:mod:`.schemas`), the database engine (:mod:`.db`),
the readings upsert (:mod:`.ingest`), the forecast input read from stored readings
(:mod:`.forecast_input`), the summary cache keys (:mod:`.summary_keys`) and the Alembic
migrations (:mod:`.migrate`). It imports neither ``service.api`` nor ``service.worker``.
"""

"""The pipeline worker: consumes sensor readings and forecast jobs from Kafka into the database.

``python -m service.worker`` runs it; configuration comes from ``AQUA_*`` environment
variables (:class:`service.worker.settings.WorkerSettings`, documented in README.md).
"""

"""The asynchronous pipeline between the API and the worker: the topics and their message
bodies, the publishers (Kafka, or the in-process queue), the handlers that store readings and
run forecasts, the nightly forecast run, and the in-process worker that the API hosts when
``AQUA_QUEUE=embedded``. The Kafka consumer process around the handlers is ``service.worker``.
"""

"""Capacity forecasts from Prometheus history: when a series reaches its limit, how sure that
is, and how many replicas it takes.

``model`` (trend + daily/weekly profile by least squares) and ``holtwinters`` (damped
Holt-Winters) fit; ``backtest`` chooses between them per series; ``forecast`` reads history and
judges each series against its limit with a band and earliest/likely/latest exhaustion;
``replicas`` turns a knee file and the HPA's ``maxReplicas`` into replicas needed; ``spec``
loads forecast files; ``rules`` writes ``predict_linear`` alerts; ``render`` and ``chart``
print them.
"""

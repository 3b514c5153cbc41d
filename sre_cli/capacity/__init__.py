"""Capacity forecasts: a linear trend plus daily and weekly profiles, fitted to Prometheus history.

``model`` fits and extrapolates (pure Python least squares), ``forecast`` reads history and
judges each series against its limit, ``spec`` loads forecast files, ``render`` prints them.
"""

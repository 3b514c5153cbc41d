"""The aqua reference API service: farms, ponds, sensor readings and pond summaries.

Create the ASGI app with :func:`service.api.app.create_app`; run it with
``python -m service.api`` (graceful draining on SIGTERM, migrations, N workers).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aqua-sre")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]

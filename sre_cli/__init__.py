"""aqua: the SRE toolkit for the aquaculture reference platform."""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""The aqua reference aquaculture platform: api, ml, worker and their shared parts."""

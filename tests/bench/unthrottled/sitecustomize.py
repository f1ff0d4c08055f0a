"""Goal (a)'s real path runs with the venues' rate limits lifted on both sides: the sandbox's (its scenario's
rate_limit_scale) and the clients' own limiters (pipelines/venues/http.py WeightLimiter), which keep 10% under
each venue's budget and would otherwise pace the run. Python imports this module at start-up in every process of
the run (the Dagster run, its step processes, dbt) when this folder is on PYTHONPATH; it only asks to be told
when pipelines.venues.http is imported, and then multiplies each limiter's capacity. Nothing else changes."""

import importlib.abc
import os
import sys

SCALE = float(os.environ.get("LEVWATCH_BENCH_CLIENT_LIMIT_SCALE", "0") or 0)
MODULE = "pipelines.venues.http"


def _lift(module) -> None:
    limiter = module.WeightLimiter
    original = limiter.__init__

    def __init__(self, capacity, window_s, **kwargs):
        original(self, max(1, int(capacity * SCALE)), window_s, **kwargs)

    limiter.__init__ = __init__


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != MODULE:
            return None
        sys.meta_path.remove(self)
        try:
            import importlib.util

            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_lift(module):
            exec_module(module)
            _lift(module)

        spec.loader.exec_module = exec_and_lift
        return spec


if SCALE > 0:
    sys.meta_path.insert(0, _Finder())

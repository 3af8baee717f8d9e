"""``scipy.stats`` imported on first use (it costs ~0.6 s; most audits never need it: see ``_dist.py``)."""

from __future__ import annotations

import importlib

__all__ = ["scipy_stats"]


class _LazyModule:
    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


scipy_stats = _LazyModule("scipy.stats")

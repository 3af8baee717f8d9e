"""The public :class:`Store`: the DuckDB store (:mod:`auditor.store`) with the loaders of :mod:`auditor.ingest` as
methods. The layers import one way: ingest uses the store, the store knows no reader."""

from __future__ import annotations

from .ingest import _load
from .store import Store as _Store

__all__ = ["Store"]


class Store(_Store):
    __doc__ = _Store.__doc__

    ingest_signals = _load.ingest_signals
    ingest_conversations = _load.ingest_conversations
    ingest_tau_bench = _load.ingest_tau_bench
    ingest_tau_usi = _load.ingest_tau_usi

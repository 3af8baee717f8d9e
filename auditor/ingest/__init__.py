"""Readers that turn users' files into validated rows, and the loaders (:mod:`._load`) that write them into a store
through :mod:`auditor.store` (which imports nothing from here)."""

from ._read import RawTable, as_raw_table, file_sha256, read_table
from ._signals_sql import Prepared, check_prepared, prepare_signals
from ._source import Source, open_source
from .conversations import normalise_conversations
from .signals import SignalOptions
from .tau_bench import read_tau_bench

__all__ = ["Prepared", "RawTable", "SignalOptions", "Source", "as_raw_table", "check_prepared", "file_sha256",
           "normalise_conversations", "open_source", "prepare_signals", "read_table", "read_tau_bench"]

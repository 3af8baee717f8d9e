"""Readers that turn users' files into validated rows for the store. Nothing here writes."""

from ._read import RawTable, as_raw_table, file_sha256, read_table
from .conversations import normalise_conversations
from .signals import SignalOptions, normalise_signals
from .tau_bench import read_tau_bench

__all__ = ["RawTable", "SignalOptions", "as_raw_table", "file_sha256", "normalise_conversations", "normalise_signals",
           "read_table", "read_tau_bench"]

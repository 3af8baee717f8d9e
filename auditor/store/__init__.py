"""The DuckDB rating store."""

from ._store import LEAN_ROWS, SIGNAL_TABLES, Store, check_read_only
from ._writes import LoadResult, register_rubric, write_conversations, write_signals

__all__ = ["Store", "SIGNAL_TABLES", "LEAN_ROWS", "LoadResult", "check_read_only", "register_rubric",
           "write_conversations", "write_signals"]

"""The DuckDB rating store."""

from ._store import SIGNAL_TABLES, Store, check_read_only
from ._writes import LoadResult, register_rubric, write_conversations, write_signals

__all__ = ["Store", "SIGNAL_TABLES", "LoadResult", "check_read_only", "register_rubric", "write_conversations",
           "write_signals"]

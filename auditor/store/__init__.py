"""The DuckDB rating store."""

from ._store import Store, check_read_only
from ._writes import LoadResult, register_rubric, write_conversations, write_signals

__all__ = ["Store", "LoadResult", "check_read_only", "register_rubric", "write_conversations", "write_signals"]

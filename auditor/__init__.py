"""auditor: how far can you trust an LLM's evaluation signals? Agreement, bias and calibration against humans."""

from .errors import AuditorError, IngestError, ReadOnlyError, RubricError

__version__ = "0.1.0"

__all__ = ["AuditorError", "IngestError", "LoadResult", "ReadOnlyError", "Rubric", "RubricError", "Store",
           "load_rubric", "__version__"]

_LAZY = {"Rubric": "rubric", "load_rubric": "rubric", "Store": "_api", "LoadResult": "store"}


def __getattr__(name: str):
    """``Store``, ``Rubric``, ... imported on first use, so that ``auditor --help`` does not load pandas."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

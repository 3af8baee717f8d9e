"""auditor: how far can you trust an LLM's evaluation signals? Agreement, bias and calibration against humans."""

from .errors import AuditorError, IngestError, ReadOnlyError, RubricError
from .rubric import Rubric, load_rubric
from .store import LoadResult, Store

__version__ = "0.1.0"

__all__ = ["AuditorError", "IngestError", "LoadResult", "ReadOnlyError", "Rubric", "RubricError", "Store",
           "load_rubric", "__version__"]

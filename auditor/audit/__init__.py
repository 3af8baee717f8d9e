"""The audit: LLM raters against humans (paired and matched designs) as tidy rows."""

from ._extras import reliability_data
from ._run import LLM_KINDS, ROW_COLUMNS, AuditOptions, audit

__all__ = ["AuditOptions", "LLM_KINDS", "ROW_COLUMNS", "audit", "reliability_data"]

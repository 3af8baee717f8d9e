"""The audit: LLM raters against humans (paired and matched designs) as tidy rows."""

from ._extras import reliability_data
from ._run import LLM_KINDS, ROW_COLUMNS, AuditOptions, audit
from ._stored import StoredAudit, audit_history, find_audit, fingerprint, save_audit

__all__ = ["AuditOptions", "LLM_KINDS", "ROW_COLUMNS", "StoredAudit", "audit", "audit_history", "find_audit",
           "fingerprint", "reliability_data", "save_audit"]

"""Where the report's numbers come from: the store, its ingest batches, judge configs, raters, runs, versions."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from ._rows import clean

__all__ = ["provenance", "versions"]


def versions() -> dict[str, str]:
    """Versions of auditor and of the libraries whose results the report depends on."""
    from .. import __version__

    out = {"auditor": __version__, "python": platform.python_version()}
    for pkg in ("duckdb", "numpy", "scipy", "pandas", "matplotlib", "jinja2"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[pkg] = "not installed"
    return out


def _records(store, query: str) -> list[dict]:
    df = store.con.execute(query).fetchdf()
    return [{k: (v.isoformat(sep=" ", timespec="seconds") if hasattr(v, "isoformat") else clean(v))
             for k, v in r.items()} for r in df.to_dict("records")]


def provenance(store, *, settings: dict, created_at: datetime | None = None) -> dict:
    """Everything needed to reproduce or question the report (no secrets: judge configs never hold keys)."""
    created = (created_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    path = store.path if store.path == ":memory:" else str(Path(store.path).resolve())
    raters = _records(store, """
        SELECT r.rater_id, r.kind, r.model, r.config_hash,
               count(s.rater_id) FILTER (WHERE s.status = 'ok') AS n_signals,
               count(s.rater_id) FILTER (WHERE s.status = 'not_answered') AS n_not_answered,
               count(s.rater_id) FILTER (WHERE s.status = 'failed') AS n_failed,
               count(DISTINCT s.conversation_id) AS n_conversations
        FROM raters r LEFT JOIN signals s USING (rater_id)
        GROUP BY ALL ORDER BY r.kind, r.rater_id""")
    batches = _records(store, """
        SELECT batch_id, kind, source, sha256, rubric, n_rows, n_inserted, n_replaced, n_unchanged, created_at
        FROM ingest_batches ORDER BY created_at, batch_id""")
    configs = _records(store, """
        SELECT config_hash, name, model, base_url, rubric, role, created_at FROM judge_configs
        ORDER BY name, config_hash""")
    runs = _records(store, """
        SELECT rater_id, count(*) AS n_runs, string_agg(DISTINCT status, ', ' ORDER BY status) AS statuses,
               sum(n_done) AS n_done, sum(n_failed) AS n_failed, sum(n_cached) AS n_cached,
               sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
               CASE WHEN count(cost_usd) = count(*) THEN sum(cost_usd) END AS cost_usd, sum(wall_s) AS wall_s,
               min(started_at) AS first_started, max(finished_at) AS last_finished
        FROM runs GROUP BY rater_id ORDER BY rater_id""")
    return {"store": path, "schema_version": store.schema_version(), "counts": store.counts(),
            "created_at": created.isoformat(timespec="seconds"), "settings": settings, "versions": versions(),
            "raters": raters, "ingest_batches": batches, "judge_configs": configs, "runs": runs}

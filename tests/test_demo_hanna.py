"""The HANNA part of the demo: the bundled table is exactly what the derivation script makes of the upstream
release, the user study reproduces the authors' Gwet AC1, failed LLM answers are stored as failed, and the
system-level audit covers all 11 systems."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from auditor import Store
from auditor.audit import AuditOptions, audit

REPO = Path(__file__).resolve().parents[1]


def test_bundled_table_is_the_derivation_of_the_upstream_files(shared_data, tmp_path):
    spec = importlib.util.spec_from_file_location("derive_hanna_demo", REPO / "examples" / "derive_hanna_demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.derive(shared_data / "hanna", tmp_path) == 1056
    for name in ("stories.csv", "user_study.csv", "LICENSE"):
        assert (tmp_path / name).read_bytes() == (REPO / "auditor" / "data" / "hanna" / name).read_bytes(), name


def test_user_study_reproduces_the_authors_ac1(hanna_db):
    with Store(hanna_db, read_only=True) as s:
        rows = audit(s, AuditOptions(rubric="hanna_issues", statistics=["gwet_ac1"], n_boot=50))
    ac1 = rows[rows.rater == "humans"].set_index("dimension")["value"]
    exact = {"guidelines": 0.90231, "syntax": 0.96554, "superfluous": 0.66265, "unsubstantiated": 0.60189,
             "incoherence": 0.81115}
    for dim, v in exact.items():
        assert ac1[dim] == pytest.approx(v, abs=5e-6), dim


def test_failed_answers_and_systems(hanna_db):
    with Store(hanna_db, read_only=True) as s:
        failed = dict(s.con.execute("SELECT rater_id, count(*) FROM signals WHERE status = 'failed' GROUP BY 1"
                                    ).fetchall())
        assert failed == {"Mistral-7B:p1": 253, "OrcaPlatypus:p1": 65, "Llama-13B:p1": 25, "ChatGPT:p1": 3}
        assert s.con.execute("SELECT count(DISTINCT system_id), count(DISTINCT task_id) FROM conversations WHERE "
                             "conversation_id LIKE 'hanna-story-%'").fetchall() == [(11, 96)]
        rows = audit(s, AuditOptions(level="system", rubric="hanna", dimensions=["coherence"], n_boot=50))
    for rater in ("Beluga-13B:p1", "OrcaPlatypus:p1", "Mistral-7B:p1", "Llama-13B:p1", "ChatGPT:p1"):
        r = rows[rows.rater == rater]
        assert r.statistic.str.startswith("system_human_mean=").sum() == 11, rater
        assert r[r.statistic == "system_kendall_tau_b"].n.iloc[0] == 11

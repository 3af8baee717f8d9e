"""Audits are stored; report and compare reuse one only for the same options on the same data and code."""

from __future__ import annotations

import json
import shutil
import subprocess

import pandas as pd
import pytest

from _campaigns import AUDITOR
from auditor import Store
from auditor.audit import AuditOptions, audit, audit_history, find_audit, fingerprint, save_audit
from auditor.demo import build_demo_store


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with Store(path) as s:
        build_demo_store(s, "llm-rubric")
    return path


@pytest.fixture
def db(demo_db, tmp_path):
    dst = tmp_path / "s.duckdb"
    shutil.copy(demo_db, dst)
    return dst


def test_saved_audit_is_found_only_for_the_same_options_and_data(db, tmp_path):
    opts = AuditOptions(n_boot=50, seed=1)
    with Store(db) as s:
        fp = fingerprint(s)
        rows = audit(s, opts)
        assert find_audit(s, opts) is None
        save_audit(s, rows, opts, fp)
        hit = find_audit(s, opts)
        pd.testing.assert_frame_equal(hit.rows, rows, check_dtype=False)
        assert find_audit(s, AuditOptions(n_boot=50, seed=1, threads=1)) is not None   # threads change nothing
        assert find_audit(s, AuditOptions(n_boot=50, seed=2)) is None
        assert find_audit(s, AuditOptions(n_boot=50, seed=1, dimensions=["Q0"])) is None
        # same row counts, one value changed: a different fingerprint, so the audit is not reused
        cid, dim, rater, label = s.con.execute(
            "SELECT conversation_id, dimension, rater_id, label FROM signals WHERE rater_id LIKE 'annotator-%' AND "
            "status = 'ok' ORDER BY ALL LIMIT 1").fetchall()[0]
        f = tmp_path / "fix.csv"
        f.write_text(f"conversation_id,dimension,rater_id,rater_kind,label\n{cid},{dim},{rater},human,"
                     f"{'1' if label != '1' else '2'}\n")
        s.ingest_signals(str(f), rubric="llm_rubric", replace=True)
        assert fingerprint(s) != fp
        assert find_audit(s, opts) is None
        hist = audit_history(s, statistic=["krippendorff_alpha"], dimension=["Q0"])
        assert len(hist) >= 2 and set(hist["statistic"]) == {"krippendorff_alpha"}


def run(db, *args):
    r = subprocess.run([AUDITOR, "--db", str(db), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r


@pytest.mark.slow   # over 10 s (a whole CLI session): CI runs it with -m slow
def test_compare_and_report_reuse_the_audit(db, tmp_path):
    run(db, "audit", "--bootstrap", "100", "--json")
    table = run(db, "compare", "--bootstrap", "100")
    assert "reusing stored audit" in table.stderr
    r = json.loads(run(db, "compare", "--bootstrap", "100", "--json").stdout)
    assert r.pop("stored_audit").startswith("a")
    fresh = json.loads(run(db, "compare", "--bootstrap", "100", "--json", "--fresh").stdout)
    assert fresh.pop("stored_audit") is None
    assert r == fresh
    rep = json.loads(run(db, "report", "--bootstrap", "100", "--out", str(tmp_path / "r.html"), "--json").stdout)
    assert rep["stored_audit"] and (tmp_path / "r.html").exists()
    other = run(db, "compare", "--bootstrap", "100", "--seed", "3")
    assert "reusing" not in other.stderr
    hist = json.loads(run(db, "audit", "history", "--statistic", "krippendorff_alpha", "--dimension", "Q0",
                          "--json").stdout)["rows"]
    assert len({h["audit_id"] for h in hist}) == 3          # audit, compare --fresh, compare --seed 3
    got = run(db, "sql", "SELECT count(DISTINCT audit_id) AS n FROM audit_history", "--json")
    assert json.loads(got.stdout)["rows"][0]["n"] == 3


def test_history_on_a_store_without_audits_says_what_to_do(db):
    r = subprocess.run([AUDITOR, "--db", str(db), "audit", "history"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "no stored audit matches" in r.stderr and "Fix:" in r.stderr

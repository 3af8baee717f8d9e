"""External judges' failures: a ``status`` column records an unparsable verdict as failed (with ``error`` and
``raw``), and ``audit --failed drop|wrong`` leaves it out (counted in the note) or counts it as a disagreement in
exact agreement and Cohen's kappa, checked against scikit-learn's kappa with "failed" as its own label."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from _campaigns import AUDITOR
from auditor import IngestError, Store
from auditor.audit import AuditOptions, audit

N, N_FAILED = 40, 6


@pytest.fixture
def store_path(tmp_path):
    rng = np.random.default_rng(7)
    truth = rng.integers(1, 5, N)
    judge = np.where(rng.random(N) < 0.7, truth, rng.integers(1, 5, N))
    failed = set(range(0, N_FAILED * 5, 5))                 # conversations 0, 5, 10, ...
    lines = ["conversation_id,dimension,rater_id,rater_kind,label,status,error,raw"]
    for i in range(N):
        lines.append(f"c{i},Q1,h1,human,{truth[i]},,,")
        if i in failed:
            lines.append(f'c{i},Q1,j1,judge,,failed,no JSON object in the reply,"I would say, maybe 3?"')
        else:
            lines.append(f"c{i},Q1,j1,judge,{judge[i]},ok,,")
    f = tmp_path / "ratings.csv"
    f.write_text("\n".join(lines) + "\n")
    path = tmp_path / "s.duckdb"
    with Store(path) as s:
        res = s.ingest_signals(str(f), rubric="llm_rubric")
        assert (res.n_inserted, res.n_failed) == (2 * N, N_FAILED)
        row = s.con.execute("SELECT status, label, value, error, raw FROM signals WHERE conversation_id = 'c5' AND "
                            "rater_id = 'j1'").fetchall()
        assert row == [("failed", None, None, "no JSON object in the reply", "I would say, maybe 3?")]
    return path, truth, judge, failed


def _row(df, stat):
    r = df[(df["rater"] == "j1") & (df["dimension"] == "Q1") & (df["statistic"] == stat)]
    assert len(r) == 1
    return r.iloc[0]


def test_drop_leaves_failed_out_and_says_so(store_path):
    path, truth, judge, failed = store_path
    ok = [i for i in range(N) if i not in failed]
    with Store(path, read_only=True) as s:
        df = audit(s, AuditOptions(n_boot=0, statistics=["exact_agreement", "cohen_kappa", "mae"]))
    ea = _row(df, "exact_agreement")
    assert ea["n"] == N - N_FAILED
    assert ea["value"] == pytest.approx(np.mean(truth[ok] == judge[ok]))
    assert f"{N_FAILED} failed verdict(s) left out" in ea["note"]
    assert "failed verdict(s) left out" in _row(df, "mae")["note"]


def test_wrong_counts_failed_as_disagreements(store_path):
    path, truth, judge, failed = store_path
    with Store(path, read_only=True) as s:
        df = audit(s, AuditOptions(n_boot=200, statistics=["exact_agreement", "cohen_kappa", "mae"], failed="wrong"))
    ea, k, mae = _row(df, "exact_agreement"), _row(df, "cohen_kappa"), _row(df, "mae")
    x = [("failed" if i in failed else str(judge[i])) for i in range(N)]
    y = [str(t) for t in truth]
    assert ea["n"] == N and k["n"] == N
    assert ea["value"] == pytest.approx(np.mean([a == b for a, b in zip(x, y)]))
    assert k["value"] == pytest.approx(cohen_kappa_score(x, y), abs=1e-12)
    assert ea["ci_low"] <= ea["value"] <= ea["ci_high"]
    assert "counted as disagreements" in ea["note"]
    assert mae["n"] == N - N_FAILED and "left out" in mae["note"]     # value statistics cannot score a failure


def test_cli_flag_and_its_refusal(store_path):
    path = store_path[0]
    r = subprocess.run([AUDITOR, "--db", str(path), "audit", "--failed", "wrong", "--statistic", "exact_agreement",
                        "--bootstrap", "0", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [x for x in json.loads(r.stdout)["rows"] if x["rater"] == "j1" and x["dimension"] == "Q1"]
    assert rows[0]["n"] == N
    r = subprocess.run([AUDITOR, "--db", str(path), "audit", "--failed", "skip"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "--failed 'skip': use drop or wrong" in r.stderr


def test_failed_rows_with_a_rating_are_refused(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("conversation_id,dimension,rater_id,rater_kind,label,status\nc1,Q1,j1,judge,3,failed\n"
                 "c2,Q1,j1,judge,3,FAILED \nc3,Q1,j1,judge,,broken\n")
    with Store(tmp_path / "s.duckdb") as s, pytest.raises(IngestError) as info:
        s.ingest_signals(str(f), rubric="llm_rubric")
    lines = str(info.value).splitlines()
    assert "row 1, field 'status': the row is marked failed but has a rating" in lines[1]
    assert "row 2, field 'status'" in lines[2]
    assert "status 'broken' is not one of ok, not_answered, failed" in lines[3]

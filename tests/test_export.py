"""`auditor export`: tables, views and read-only queries to Parquet / CSV / JSON lines; refusals in one line."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from _campaigns import run_cli


@pytest.mark.parametrize("ext", [".parquet", ".csv", ".jsonl", ".json"])
def test_a_view_exports_row_for_row(demo_db, tmp_path, ext):
    out = tmp_path / f"paired{ext}"
    r = run_cli(demo_db, "export", "paired", "--to", str(out))
    assert r.returncode == 0 and r.stdout.startswith("wrote "), r.stderr
    n = int(r.stdout.split()[1])
    want = duckdb.connect(str(demo_db), read_only=True).execute("SELECT count(*) FROM paired").fetchall()[0][0]
    if ext == ".parquet":
        got = len(pd.read_parquet(out))
    elif ext == ".csv":
        got = len(pd.read_csv(out))
    elif ext == ".jsonl":
        got = sum(1 for line in out.read_text().splitlines() if json.loads(line))
    else:
        got = len(json.loads(out.read_text()))
    assert n == want == got > 0


def test_a_query_exports_and_wrong_uses_are_refused(demo_db, tmp_path):
    out = tmp_path / "means.csv"
    r = run_cli(demo_db, "export", "--query", "SELECT rater_id, avg(value) AS mean FROM signals_long GROUP BY 1",
                "--to", str(out))
    assert r.returncode == 0 and "rater_id,mean" in out.read_text()
    cases = [(["export", "paired", "--to", str(out)], "exists"),
             (["export", "nope", "--to", str(tmp_path / "a.parquet")], "no table or view 'nope'"),
             (["export", "--query", "DELETE FROM signals", "--to", str(tmp_path / "b.parquet")], "DELETE statement"),
             (["export", "paired", "--to", str(tmp_path / "c.xlsx")], "unknown format"),
             (["export", "--to", str(tmp_path / "d.csv")], "a table or view name, or --query"),
             (["export", "paired", "--to", str(tmp_path / "no" / "e.csv")], "does not exist"),
             (["sql", "COPY signals TO 'x.csv'"], "auditor export")]
    for args, says in cases:
        r = run_cli(demo_db, *args)
        assert r.returncode == 1 and says in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b.parquet").exists()
    r = run_cli(demo_db, "export", "paired", "--to", str(out), "--force")
    assert r.returncode == 0

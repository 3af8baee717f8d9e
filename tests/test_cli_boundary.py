"""The CLI boundary and `auditor sql`'s sandbox: every failure is one line and a non-zero exit; reads stay reads.

Reproductions from the reliability sweep (issue 17): EXPLAIN ANALYZE of writes, file reads through table
functions, settings, sequences, a runaway query, an unexpected exception, a store in a missing folder.
"""

from __future__ import annotations

import shutil

import duckdb
import pytest

from _campaigns import run_cli
from auditor import Store
from auditor.errors import ReadOnlyError


@pytest.fixture
def db(demo_db, tmp_path):
    path = tmp_path / "store.duckdb"
    shutil.copy(demo_db, path)
    return path


@pytest.mark.parametrize("query, says", [
    ("EXPLAIN ANALYZE DELETE FROM signals", "DELETE statement"),
    ("EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1", "CREATE statement"),
    ("EXPLAIN ANALYZE COPY (SELECT * FROM signals) TO 'leak.parquet'", "COPY writes a file"),
    ("explain   analyse   UPDATE signals SET value = 0", "UPDATE statement"),
    ("EXPLAIN ANALYZE SET custom_extension_repository='http://example.invalid'", "SET statement"),
    ("EXPLAIN INSTALL httpfs", "LOAD statement"),
    ("SELECT nextval('conversation_key_seq')", "nextval"),
    ("SELECT content FROM read_text('/etc/passwd')", "no files"),
    ("SELECT * FROM read_csv('/etc/passwd')", "no files"),
    ("SELECT * FROM read_blob('/etc/hostname')", "no files"),
    ("SELECT * FROM glob('/etc/*')", "no files"),
    ("SET enable_external_access = true", "SET statement"),
])
def test_sql_refuses_writes_files_and_settings_in_one_line(db, tmp_path, query, says):
    before = Store(db, read_only=True)
    n = before.con.execute("SELECT count(*) FROM signals").fetchall()[0][0]
    before.close()
    r = run_cli(db, "sql", query)
    assert r.returncode == 1 and says in r.stderr and "Fix:" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "leak.parquet").exists() and not list(db.parent.glob("*.parquet"))
    with Store(db, read_only=True) as s:
        assert s.con.execute("SELECT count(*) FROM signals").fetchall()[0][0] == n
        assert s.con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'x'").fetchall() \
            == [(0,)]


def test_sql_still_answers_queries_and_explain_analyze_of_a_select(db):
    r = run_cli(db, "sql", "SELECT count(*) AS n FROM signals", "--json")
    assert r.returncode == 0 and '"n": 6021' in r.stdout
    r = run_cli(db, "sql", "EXPLAIN ANALYZE SELECT count(*) FROM paired")
    assert r.returncode == 0 and "Total Time" in r.stdout


def test_a_runaway_query_is_stopped(db):
    r = run_cli(db, "sql", "--timeout", "1", "SELECT count(*) FROM range(100000000000)")
    assert r.returncode == 1 and "longer than 1 s" in r.stderr and "--timeout" in r.stderr


def test_store_sql_from_python_is_as_read_only_as_the_cli(db):
    with Store(db) as s:
        n = s.sql("SELECT count(*) AS n FROM signals")["n"][0]
        for q in ("EXPLAIN ANALYZE DELETE FROM signals", "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
                  "SELECT nextval('conversation_key_seq')", "DELETE FROM signals"):
            with pytest.raises(ReadOnlyError):
                s.sql(q)
        seq = s.con.execute("SELECT currval('conversation_key_seq')").fetchall()
        assert s.sql("SELECT count(*) AS n FROM signals")["n"][0] == n
        assert s.con.execute("SELECT currval('conversation_key_seq')").fetchall() == seq
        s.sql("CREATE TABLE mine AS SELECT 1 AS x", allow_writes=True)      # the explicit escape hatch still works
        assert s.sql("SELECT x FROM mine")["x"][0] == 1


def test_an_unexpected_exception_is_one_line_exit_70_and_debug_shows_it(db):
    con = duckdb.connect(str(db))                    # a store damaged behind auditor's back
    con.execute("""UPDATE rubrics SET spec = '{"name": "llm_rubric"}'""")
    con.close()
    r = run_cli(db, "audit", "--dimension", "Q0")
    assert r.returncode == 70, (r.returncode, r.stderr[-500:])
    assert len(r.stderr.strip().splitlines()) == 1 and "internal error (ValidationError" in r.stderr
    assert "--debug" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(db, "--debug", "audit", "--dimension", "Q0")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_a_store_in_a_missing_folder_says_how_to_fix_it(tmp_path):
    r = run_cli(tmp_path / "no" / "such" / "x.duckdb", "init")
    assert r.returncode == 1 and "does not exist" in r.stderr and "mkdir -p" in r.stderr
    r = run_cli(tmp_path / "no" / "x.duckdb", "--debug", "init")
    assert r.returncode == 1 and "Traceback" in r.stderr and "AuditorError" in r.stderr


def test_an_older_store_opened_for_reading_is_upgraded_once(db):
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM schema_migrations WHERE version = 3")
    for t in ("campaign_answers", "campaign_assignments", "campaign_items", "campaign_annotators", "campaigns",
              "signal_history", "web_keys"):
        con.execute(f"DROP TABLE {t}")
    con.close()
    r = run_cli(db, "sql", "SELECT count(*) AS n FROM campaigns", "--json")
    assert r.returncode == 0 and '"n": 0' in r.stdout, r.stderr


def test_version_short_help_and_global_options_after_the_command(db):
    r = run_cli(db, "--version")
    assert r.returncode == 0 and r.stdout.startswith("auditor ")
    r = run_cli(db, "audit", "-h")
    assert r.returncode == 0 and "Usage: auditor audit" in r.stdout
    import subprocess

    from _campaigns import AUDITOR
    r = subprocess.run([AUDITOR, "sql", "SELECT count(*) AS n FROM signals", "--json", "--db", str(db), "--wait", "2"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and '"n": 6021' in r.stdout, r.stderr


def test_unknown_dimensions_statistics_and_rubrics_are_errors_not_empty_results(db):
    for args, says in [(["audit", "--dimension", "helpful"], "unknown dimension(s) 'helpful'"),
                       (["audit", "--statistic", "alpha"], "unknown statistic 'alpha'"),
                       (["audit", "--statistic", "krippendorf_alpha"], "did you mean krippendorff_alpha"),
                       (["audit", "--rubric", "likert5"], "no ratings for rubric 'likert5'"),
                       (["report", "--dimension", "helpful", "--out", str(db.parent / "r.html")],
                        "unknown dimension(s)")]:
        r = run_cli(db, *args)
        assert r.returncode == 1 and says in r.stderr and "Fix:" in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1


def test_every_statistic_an_audit_reports_is_a_known_name(db):
    import json

    from auditor.audit._run import known_statistics

    r = run_cli(db, "audit", "--json", "--bootstrap", "20")
    names = {x["statistic"] for x in json.loads(r.stdout)["rows"]}
    known = set(known_statistics())
    prefixed = ("human_mean_at_llm=", "system_human_mean=", "system_llm_mean=", "panel_error_correlation=")
    assert {n for n in names if n not in known and not n.startswith(prefixed)} == set()
    r = run_cli(db, "audit", "--json", "--bootstrap", "0", "--dimension", "Q0", "--statistic", "human_mean_at_llm=3")
    assert r.returncode == 0


def test_json_and_csv_together_is_a_usage_error(db):
    r = run_cli(db, "sql", "SELECT 1", "--json", "--csv")
    assert r.returncode == 2 and "choose one output format" in r.stderr


def test_rater_and_gate_mistakes_say_what_to_use(db):
    r = run_cli(db, "audit", "--llm", "annotator-10")
    assert r.returncode == 1 and "is a human rater" in r.stderr
    r = run_cli(db, "audit", "--llm", "nobody")
    assert r.returncode == 1 and "unknown LLM rater(s) 'nobody'" in r.stderr and "annotator-" not in r.stderr
    r = run_cli(db, "audit", "--fail-under", "alpha=0.5")
    assert r.returncode == 1 and "gate statistic 'alpha'" in r.stderr and "krippendorff_alpha" in r.stderr
    r = run_cli(db, "audit", "--dimension", "Q0", "--statistic", "krippendorff_alpha", "--bootstrap", "0",
                "--fail-under", "krippendorff_alpha=0.5")
    assert r.returncode == 1 and "krippendorff_alpha = -0.2097 < 0.5" in r.stderr


def test_yaml_alias_bomb_and_broken_yaml_are_one_line_with_a_fix(tmp_path):
    """A "billion laughs" rubric or judge config is refused at its first alias, before it can expand."""
    from auditor import load_rubric
    from auditor.errors import ConfigError, RubricError
    from auditor.judge import load_judge

    bomb = "\n".join(["name: bomb", 'version: "1"', 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
                     + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
                     + ["dimensions: [*i]"]) + "\n"
    for name, load, err in (("r.yaml", load_rubric, RubricError), ("j.yaml", load_judge, ConfigError)):
        f = tmp_path / name
        f.write_text(bomb)
        with pytest.raises(err) as info:
            load(f)
        msg = str(info.value)
        assert "line 4: YAML aliases (*name) are not accepted" in msg and "Fix:" in msg and "\n" not in msg
        f.write_text("name: x\n  bad: [\n")
        with pytest.raises(err) as info:
            load(f)
        assert "line 2: not valid YAML" in str(info.value) and "Fix:" in str(info.value)


def test_ctrl_c_during_a_query_is_an_interruption_not_an_internal_error(db):
    """DuckDB turns SIGINT during a query into ``RuntimeError: Query interrupted``; the CLI says "interrupted", 130."""
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", "from auditor.cli import main; main()", "--db", str(db), "sql",
                             "SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = hash(i) % 3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    time.sleep(3)                          # imports done, the query running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", (out, err)
    assert "internal error" not in err and "Traceback" not in err

"""The store: migrations, read-only SQL, the demo's contents, idempotence."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from auditor import ReadOnlyError, Store
from auditor.cli import app
from auditor.store._store import MIGRATIONS

runner = CliRunner()


def _store_at(path, version: int) -> duckdb.DuckDBPyConnection:
    """An open DuckDB file with the migrations up to ``version`` applied and recorded: a store an older auditor
    wrote."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)")
    for v, name, sql in MIGRATIONS:
        if v <= version:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [v, name])
    return con


def _signals_as_seen(con) -> tuple[list, list]:
    """What a reader of ``signals`` sees: its columns with their types, in order, and its rows."""
    return (con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'signals' "
                        "ORDER BY column_index").fetchall(),
            con.execute("SELECT * FROM signals ORDER BY ALL").fetchall())


def test_migrations_are_recorded_and_upgrade_an_older_store(tmp_path):
    path = tmp_path / "old.duckdb"
    _store_at(path, MIGRATIONS[0][0]).close()           # an "older" store: only the first migration applied
    with Store(path) as s:
        versions = s.sql("SELECT version FROM schema_migrations ORDER BY 1")["version"].tolist()
        assert versions == [m[0] for m in MIGRATIONS]
        assert s.sql("SELECT count(*) AS n FROM signals_long")["n"][0] == 0  # the view from a later migration


def test_read_only_store_refuses_writes(demo_db):
    with Store(demo_db, read_only=True) as s:
        for q in ["DELETE FROM signals", "DROP TABLE signals", "INSERT INTO tasks VALUES ('x', NULL, NULL, NULL)",
                  "UPDATE signals SET value = 1", "CREATE TABLE t (a INT)", "COPY signals TO '/tmp/x.csv'",
                  "ATTACH '/tmp/other.duckdb'", "SELECT 1; DELETE FROM signals"]:
            with pytest.raises(ReadOnlyError):
                s.sql(q)
        assert s.sql("SELECT count(*) AS n FROM signals")["n"][0] > 0


def test_cli_sql_refuses_delete_and_leaves_data(demo_db):
    before = runner.invoke(app, ["--db", str(demo_db), "sql", "SELECT count(*) AS n FROM signals", "--json"])
    res = runner.invoke(app, ["--db", str(demo_db), "sql", "DELETE FROM signals"])
    assert res.exit_code == 1 and "read-only" in res.output
    after = runner.invoke(app, ["--db", str(demo_db), "sql", "SELECT count(*) AS n FROM signals", "--json"])
    assert before.output == after.output


def test_demo_contents(demo_db):
    res = runner.invoke(app, ["--db", str(demo_db), "sql", "SELECT count(*) AS n FROM conversations", "--json"])
    assert json.loads(res.output)["rows"][0]["n"] == 223
    with Store(demo_db, read_only=True) as s:
        judges = s.sql("SELECT rater_id FROM raters WHERE kind = 'judge' ORDER BY 1")["rater_id"].tolist()
        assert judges == ["gpt-3.5-turbo-16k:argmax", "gpt-3.5-turbo-16k:expected"]
        n_q0 = s.sql("SELECT count(*) AS n FROM signals_long WHERE dimension = 'Q0' AND rater_kind = 'human'")["n"][0]
        # the bundled file: Q0 answers that are not 0 (0 = not answered)
        import pandas as pd
        from auditor.demo import demo_data_dir

        raw = pd.read_csv(str(demo_data_dir() / "human_judges_real_convs_FIXED_ANON.tsv"), sep="\t")
        assert n_q0 == int((raw["Q0"] != 0).sum())
        n_missing = s.sql("SELECT count(*) AS n FROM signals WHERE status = 'not_answered'")["n"][0]
        assert n_missing == int((raw[[f"Q{i}" for i in range(9)]] == 0).sum().sum())
        # not-answered never appears as a rating
        assert s.sql("SELECT count(*) AS n FROM signals_long WHERE value = 0")["n"][0] == 0
        conv = s.sql("SELECT messages, n_turns, n_chars FROM conversations LIMIT 1").iloc[0]
        msgs = json.loads(conv["messages"])
        assert conv["n_turns"] == len(msgs) and conv["n_chars"] == sum(len(m["content"]) for m in msgs)


def test_demo_twice_changes_nothing(tmp_path):
    db = str(tmp_path / "d.duckdb")
    from auditor.demo import build_demo_store

    with Store(db) as s:
        build_demo_store(s)
        snap = {t: s.sql(f"SELECT * FROM {t} ORDER BY ALL").to_csv() for t in ["signals", "conversations", "raters",
                                                                              "ingest_batches"]}
        res = build_demo_store(s)
        assert all(r.n_inserted == 0 and r.batch_id is None for r in res)
        assert snap == {t: s.sql(f"SELECT * FROM {t} ORDER BY ALL").to_csv() for t in snap}


def test_migration_008_keeps_every_signal_and_types_status_and_value_source(tmp_path):
    """A store at schema 7 with signals of every status and value source upgrades to ENUM columns: the rows are
    the same text, SQL sees text, ORDER BY sorts as before, and a status outside the domain is refused."""
    path = tmp_path / "v7.duckdb"
    con = _store_at(path, 7)
    rows = [("c1", "llm_rubric", "Q0", "h1", 0, "ok", "3", 3.0, "label", None, None, None, None, None, None, "b1"),
            ("c1", "llm_rubric", "Q1", "h1", 0, "not_answered", None, None, None, None, None, None, None, None, None,
             "b1"),
            ("c1", "llm_rubric", "Q0", "j1", 0, "failed", None, None, None, None, None, "{bad", None, "unparsable",
             "r1", "b2"),
            ("c2", "llm_rubric", "Q0", "j1", 1, "ok", "2", 2.2, "expected", 0.8, '{"1": 0.2, "2": 0.8}', "x", "why",
             None, "r1", "b2"),
            ("c2", "llm_rubric", "Q1", "j1", 0, "ok", "1", 1.0, "argmax", None, None, None, None, None, None, "b2"),
            ("c3", "llm_rubric", "Q0", "p", 0, "ok", None, 2.5, "value", None, None, None, None, None, None, "b3"),
            ("c3", "llm_rubric", "Q1", "p", 0, "ok", "2", 2.0, "panel", None, None, None, None, None, None, "b3")]
    con.executemany("INSERT INTO signals VALUES (" + ", ".join("?" * 16) + ")", rows)
    before = con.execute("SELECT * FROM signals ORDER BY ALL").fetchall()
    con.close()
    with Store(path) as s:
        assert s.con.execute("SELECT * FROM signals ORDER BY ALL").fetchall() == before
        types = dict(s.con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = "
                                   "'signals'").fetchall())
        assert types["status"].startswith("ENUM") and types["value_source"].startswith("ENUM")
        got = s.sql("SELECT status, value_source FROM signals ORDER BY status, value_source")
        assert got["status"].tolist() == sorted(r[5] for r in rows)       # text order, as with VARCHAR
        assert not any(isinstance(t, pd.CategoricalDtype) for t in got.dtypes)
        assert s.sql("SELECT count(*) AS n FROM signals WHERE status = 'nonsense'")["n"][0] == 0
        with pytest.raises(duckdb.ConversionException):
            s.con.execute("INSERT INTO signal_rows (conversation_id, rubric, dimension, rater_id, status) "
                          "VALUES ('c9', 'llm_rubric', 'Q0', 'h1', 'answered')")


def test_migration_009_keeps_the_signals_where_they_were_and_the_view_as_the_table_was(tmp_path):
    """A store at schema 8 upgrades by renaming ``signals`` to ``signal_rows`` (no copy): ``signals`` is then a view
    with the same columns in the same order and the same rows, the lean table starts empty, a bulk load of plain
    ratings goes there, and Store.delete_signals deletes from both tables."""
    path = tmp_path / "v8.duckdb"
    con = _store_at(path, 8)
    con.execute("INSERT INTO signals VALUES ('c1', 'llm_rubric', 'Q0', 'j1', 0, 'ok', '3', 3.0, 'expected', 0.8, "
                "'{\"3\": 1.0}', 'x', 'why', NULL, 'r1', 'b1'), ('c2', 'llm_rubric', 'Q0', 'h1', 0, 'ok', '2', 2.0, "
                "'label', NULL, NULL, NULL, NULL, NULL, NULL, 'b2')")
    con.execute("INSERT INTO raters (rater_id, kind) VALUES ('j1', 'judge'), ('h1', 'human')")
    before = _signals_as_seen(con)
    con.close()
    (tmp_path / "h.csv").write_text("conversation_id,dimension,rater_id,rater_kind,label\nc3,Q0,h2,human,4\n",
                                    encoding="utf-8")
    with Store(path) as s:
        assert s.schema_version() >= 9
        assert s.con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'signals'"
                             ).fetchall() == [("VIEW",)]
        assert s.con.execute("SELECT * FROM signal_rows ORDER BY ALL").fetchall() == before[1]
        assert _signals_as_seen(s.con) == before
        s.ingest_signals(tmp_path / "h.csv", rubric="llm_rubric")
        assert s.con.execute("SELECT conversation_id, label FROM signal_rows_lean").fetchall() == [("c3", "4")]
        assert s.sql("SELECT count(*) AS n FROM signals_long")["n"][0] == 3
        assert s.delete_signals("s.dimension = 'Q0' AND s.conversation_id <> 'c1'") == 2
        assert s.con.execute("SELECT conversation_id FROM signals").fetchall() == [("c1",)]


def test_migration_010_moves_the_lean_rows_rubric_and_batch_to_their_load(tmp_path):
    """A store at schema 9 with lean rows of two loads (and a signal_rows row) upgrades: ``signals`` shows the same
    rows with the same columns, each (rubric, batch) became one row of signal_loads, the lean table has a load key
    instead of the two columns, and a later bulk load, a --replace of a lean row and delete_signals by rubric work."""
    path = tmp_path / "v9.duckdb"
    con = _store_at(path, 9)
    con.execute("INSERT INTO signal_rows_lean VALUES ('c1', 'llm_rubric', 'Q0', 'h1', 0, 'ok', '3', 3.0, 'label', "
                "'b1'), ('c2', 'llm_rubric', 'Q0', 'h1', 0, 'ok', '2', 2.0, 'label', 'b1'), ('c1', 'likert5', 'q', "
                "'h1', 0, 'not_answered', NULL, NULL, NULL, 'b2')")
    con.execute("INSERT INTO signal_rows (conversation_id, rubric, dimension, rater_id, status, label, value, "
                "confidence, batch_id) VALUES ('c1', 'llm_rubric', 'Q0', 'j1', 'ok', '4', 4.0, 0.9, 'b3')")
    con.execute("INSERT INTO raters (rater_id, kind) VALUES ('j1', 'judge'), ('h1', 'human')")
    before = _signals_as_seen(con)
    con.close()
    with Store(path) as s:
        assert s.schema_version() >= 10
        assert _signals_as_seen(s.con) == before
        assert s.con.execute("SELECT rubric, batch_id FROM signal_loads ORDER BY 1 DESC").fetchall() == [
            ("llm_rubric", "b1"), ("likert5", "b2")]
        lean = [r[0] for r in s.con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = "
                                            "'signal_rows_lean'").fetchall()]
        assert "load_key" in lean and "rubric" not in lean and "batch_id" not in lean
        (tmp_path / "h.csv").write_text("conversation_id,dimension,rater_id,rater_kind,label\nc3,Q0,h2,human,4\n"
                                        "c4,Q0,h2,human,1\n", encoding="utf-8")
        r = s.ingest_signals(tmp_path / "h.csv", rubric="llm_rubric")
        assert s.con.execute("SELECT conversation_id, rubric, batch_id FROM signals WHERE rater_id = 'h2' "
                             "ORDER BY 1").fetchall() == [("c3", "llm_rubric", r.batch_id), ("c4", "llm_rubric",
                                                                                              r.batch_id)]
        (tmp_path / "h2.csv").write_text("conversation_id,dimension,rater_id,rater_kind,label\nc1,Q0,h1,human,1\n",
                                         encoding="utf-8")
        assert s.ingest_signals(tmp_path / "h2.csv", rubric="llm_rubric", replace=True).n_replaced == 1
        assert s.con.execute("SELECT label FROM signals WHERE rater_id = 'h1' AND conversation_id = 'c1' AND "
                             "rubric = 'llm_rubric'").fetchall() == [("1",)]
        assert s.delete_signals("s.rubric = ? AND s.rater_id = ?", ["likert5", "h1"]) == 1
        assert s.con.execute("SELECT count(*) FROM signals").fetchall() == [(5,)]


def test_the_store_never_draws_duckdbs_progress_bar(tmp_path):
    """DuckDB draws a progress bar on the terminal for a table scan over 2 s (seen: migration 008 copying a
    32M-row signals table); the library prints nothing, so every connection, sandboxed ones too, turns it off.
    Asked in a fresh interpreter: under pytest's capture DuckDB starts with the bar off anyway."""
    import subprocess
    import sys

    code = ("import sys; from auditor import Store\n"
            "q = \"SELECT current_setting('enable_progress_bar') AS p, current_setting('lock_configuration') AS l\"\n"
            "with Store(sys.argv[1]) as s: print(s.con.execute(q).fetchall())\n"
            "with Store(sys.argv[1], read_only=True, sandbox=True) as s: print(s.con.execute(q).fetchall())\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.duckdb")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[(False, False)]", "[(False, True)]"], out.stdout

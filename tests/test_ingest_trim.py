"""A CSV cell that starts or ends in whitespace is trimmed wherever it is, although a CSV's columns are taken as
clean without a test of every cell (``Source.assumed``, ``_light.TAKEN_CLEAN``): each case below hides one
such cell in 2,000 clean rows, in every column and in the ways a load can meet it (a distinct id, a kind that makes
the rater look like two, a task, a dimension that only matches once trimmed, a label, a not-answered code, another
column), and the store must then hold exactly what the same file with every cell trimmed gives."""

from __future__ import annotations

import pytest

from auditor import Store
from auditor.errors import IngestError

HEAD = ["conversation_id", "dimension", "rater_id", "rater_kind", "label"]


def _rows(n: int = 2000, task: bool = False, sample: bool = False) -> list[list[str]]:
    rows = []
    for i in range(n):
        r = [f"c{i // 2}", "Q0" if i % 2 == 0 else "Q1", "h1" if i % 3 else "j1", "human" if i % 3 else "judge",
             str(1 + i % 4)]
        rows.append(r + ([f"t{i // 20}"] if task else []) + (["0"] if sample else []))
    return rows


def _write(path, head, rows) -> None:
    path.write_text(",".join(head) + "\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")


def _stored(db) -> dict:
    with Store(db) as s:
        q = {"signals": "SELECT conversation_id, rubric, dimension, rater_id, sample, status, label, value, "
                        "value_source FROM signals ORDER BY ALL",
             "raters": "SELECT rater_id, kind FROM raters ORDER BY ALL",
             "conversations": "SELECT conversation_id, task_id FROM conversations ORDER BY ALL"}
        return {k: s.con.execute(v).fetchall() for k, v in q.items()}


CASES = {
    # name: (column, cell as written, extra columns)
    "conversation id": ("conversation_id", "\tc750 ", {}),
    "rater id": ("rater_id", " h1", {}),
    "rater kind (the rater looks like two)": ("rater_kind", "human ", {}),
    "task of a conversation with one row of it": ("task_id", " t37", {"task": True}),
    "dimension": ("dimension", " Q1", {}),
    "label": ("label", "3 ", {}),
    "not-answered code": ("label", "\t0", {}),
    "a column outside TAKEN_CLEAN, tested cell by cell first": ("sample", " 0", {"sample": True}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_cell_to_trim_among_clean_rows_is_stored_trimmed(tmp_path, case):
    col, cell, extra = CASES[case]
    head = HEAD + (["task_id"] if extra.get("task") else []) + (["sample"] if extra.get("sample") else [])
    rows = _rows(**extra)
    k = 1501                                            # h1's (a human) rating of c750 on Q1
    if col == "task_id":
        rows[k][head.index("conversation_id")] = "c_alone"      # a conversation whose only task is the dirty one
    rows[k][head.index(col)] = cell
    _write(tmp_path / "dirty.csv", head, rows)
    _write(tmp_path / "clean.csv", head, [[c.strip() for c in r] for r in rows])
    for name in ("dirty", "clean"):
        with Store(tmp_path / f"{name}.duckdb") as s:
            r = s.ingest_signals(tmp_path / f"{name}.csv", rubric="llm_rubric")
            assert r.n_inserted == len(rows), (name, r)
    dirty, clean = _stored(tmp_path / "dirty.duckdb"), _stored(tmp_path / "clean.duckdb")
    assert dirty == clean
    assert len(clean["raters"]) == 2


def test_a_label_to_trim_and_a_fault_name_the_fault_only(tmp_path):
    """The label held back from the unchecked insert is trimmed by the check; the fault named is the one fault, and
    the connection is left without the load's temporary tables and views."""
    rows = _rows()
    rows[100][4] = " 2"
    rows[1800][1] = "Q99"
    _write(tmp_path / "a.csv", HEAD, rows)
    with Store(tmp_path / "s.duckdb") as s:
        with pytest.raises(IngestError) as e:
            s.ingest_signals(tmp_path / "a.csv", rubric="llm_rubric")
        assert s.con.execute("SELECT count(*) FROM signals").fetchall()[0][0] == 0
        # the load prepared the file twice (the second time with the label trimmed): neither left a temp object
        assert s.con.execute("SELECT (SELECT count(*) FROM duckdb_tables() WHERE temporary) + (SELECT count(*) "
                             "FROM duckdb_views() WHERE temporary AND NOT internal)").fetchall() == [(0,)]
    msg = str(e.value)
    assert "row 1801" in msg and "Q99" in msg, msg
    assert "row 101" not in msg and "more rows" not in msg, msg


def test_a_label_that_reads_as_another_option_untrimmed_is_held_back_and_trimmed(tmp_path):
    """Label "3" is the option worth 2; "3 " untrimmed is no label, but reads as the number 3, the value of option
    "high". Taken as clean, the unchecked insert would store "high"; held back, the check trims it to "3"."""
    (tmp_path / "r.yaml").write_text(
        "name: numbered\nversion: '1'\ndimensions:\n  - name: Q\n    level: ordinal\n    options:\n"
        "      - {label: low, value: 1}\n      - {label: '3', value: 2}\n      - {label: high, value: 3}\n",
        encoding="utf-8")
    rows = [[f"c{i}", "Q", "h1", "human", "3" if i != 1234 else "3 "] for i in range(2000)]
    _write(tmp_path / "a.csv", HEAD, rows)
    with Store(tmp_path / "s.duckdb") as s:
        assert s.ingest_signals(tmp_path / "a.csv", rubric=str(tmp_path / "r.yaml")).n_inserted == 2000
        got = s.con.execute("SELECT label, value, count(*) FROM signals GROUP BY ALL").fetchall()
    assert got == [("3", 2.0, 2000)]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_file_written_to_during_its_load_is_refused(tmp_path, fmt):
    """A Parquet file is read again at every pass, and the batch records the sha256 taken when it was opened: a
    file that changed in between is refused (``Source.unchanged``, asked before the load commits)."""
    import duckdb

    from auditor.ingest import open_source

    path = tmp_path / f"a.{fmt}"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 'c1' AS conversation_id, 'Q0' AS dimension, 'h1' AS rater_id, 'human' AS rater_kind, "
                f"'3' AS label) TO '{path}' (FORMAT {fmt})")
    src = open_source(con, path)
    src.unchanged()
    with open(path, "ab") as f:
        f.write(b"\n")
    with pytest.raises(IngestError, match="the file changed while it was being loaded"):
        src.unchanged()
    src.close(con)

"""Ingest speed and memory against the DuckDB it sits on (issue 12's targets).

    .venv/bin/python benchmarks/bench_ingest.py [--signals 32000000] [--csv-rows 3200000] [--csv-repeats 1]
        [--reference] [--breakdown]

1. A long Parquet file of N signals (N/32 conversations x 8 LLM-Rubric dimensions x 4 raters) is loaded with
   ``auditor ingest signals`` into a fresh store, then copied by a bare DuckDB ``CREATE TABLE AS SELECT * FROM
   read_parquet(...)`` into a fresh database: the ratio is ingest / CTAS, both in this process, one after the other.
   Peak RSS is the process's high-water mark right after the ingest (the ingest runs first).
2. The same for a CSV file of ``--csv-rows`` rows against DuckDB's ``read_csv`` CTAS, ``--csv-repeats`` times
   (ingest, CTAS, ingest, CTAS, ...: each pair's ratio, then their median).
``--reference`` also times the previous pandas implementation (tests/_pandas_signals.py) on the CSV file.
``--breakdown`` times, on the Parquet file, a bare ``INSERT ... SELECT`` of the same rows into a fresh store's
``signal_rows_lean`` (the floor a bulk load of plain ratings pays), into that table as migration 009 made it (with
the rubric and batch id in every row, before migration 010), into ``signal_rows`` (the 16-column table all signals
went to before migration 009), and into the schema before migration 008 (VARCHAR ``status`` / ``value_source``).
Targets: Parquet >= 2M signals/s and <= 3x CTAS; CSV <= 3x CTAS; peak RSS <= 2 GB for 32M signals.
Wall seconds are printed beside CPU seconds (the machines are shared: compare ratios, not seconds).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from auditor import Store  # noqa: E402

GEN = """COPY (SELECT 'c' || (i // 32) AS conversation_id, 'Q' || (i % 8) AS dimension,
    'r' || ((i // 8) % 4) AS rater_id, CASE WHEN (i // 8) % 4 = 0 THEN 'judge' ELSE 'human' END AS rater_kind,
    CAST(1 + hash(i) % 4 AS VARCHAR) AS label FROM range({n}) t(i)) TO '{path}' {fmt}"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def ingest(path: Path, db: Path):
    with Store(db) as s:
        return s.ingest_signals(str(path), rubric="llm_rubric")


def ctas(path: Path, db: Path, reader: str):
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{path}')")
    con.close()


VARIANTS = {
    "signal_rows_lean": "the store's signal_rows_lean (9 columns: where a file of plain ratings goes)",
    "lean_009": "signal_rows_lean as migration 009 made it (10 columns: the rubric and batch id in every row)",
    "signal_rows": "the store's signal_rows (16 columns: the one table before migration 009)",
    "varchar": "signal_rows with VARCHAR status / value_source and the CHECK on status (the schema before migration "
               "008)",
}


def bare_insert(path: Path, db: Path, variant: str, reader: str = "read_parquet") -> None:
    """The file's rows straight into a fresh store's table (see VARIANTS): no validation, constants for the rest;
    the floor any ingest into that table pays."""
    with Store(db) as s:
        con = s.con
        table = variant
        if variant == "varchar":
            table = "sig2"
            cols = [(n, t) for n, t in con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE "
                                                   "table_name = 'signal_rows' ORDER BY column_index").fetchall()]
            cols = [(n, "VARCHAR" if n in ("status", "value_source") else t) for n, t in cols]
            ddl = ", ".join(f"{n} {t}" + (" NOT NULL" if n in ("conversation_id", "rubric", "dimension", "rater_id",
                                                                 "sample", "status") else "") for n, t in cols)
            con.execute(f"CREATE TABLE sig2 ({ddl}, CHECK (status IN ('ok', 'not_answered', 'failed')))")
        if variant == "lean_009":
            table = "lean2"
            con.execute("CREATE TABLE lean2 (conversation_id VARCHAR NOT NULL, rubric VARCHAR NOT NULL, dimension "
                        "VARCHAR NOT NULL, rater_id VARCHAR NOT NULL, sample INTEGER NOT NULL DEFAULT 0, status "
                        "signal_status NOT NULL DEFAULT 'ok', label VARCHAR, value DOUBLE, value_source "
                        "signal_value_source, batch_id VARCHAR)")
        con.execute("SET preserve_insertion_order = false")
        if table == "signal_rows_lean":
            con.execute("INSERT INTO signal_loads VALUES (1, 'llm_rubric', 'b20261202000000-000000')")
            con.execute(f"INSERT INTO {table} (conversation_id, dimension, rater_id, sample, status, label, value, "
                        f"value_source, load_key) SELECT conversation_id, dimension, rater_id, 0, 'ok', label, "
                        f"CAST(label AS DOUBLE), 'label', 1 FROM {reader}('{path}')")
            return
        con.execute(f"INSERT INTO {table} (conversation_id, rubric, dimension, rater_id, sample, status, label, value, "
                    f"value_source, batch_id) SELECT conversation_id, 'llm_rubric', dimension, rater_id, 0, 'ok', "
                    f"label, CAST(label AS DOUBLE), 'label', 'b20261202000000-000000' FROM {reader}('{path}')")


def report(label: str, n: int, ing, base) -> None:
    (iw, ic, _), (bw, bc, _) = ing, base
    print(f"{label}: ingest {iw:.2f} s wall ({ic:.2f} s CPU), {n / iw / 1e6:.2f}M signals/s; bare DuckDB CTAS "
          f"{bw:.2f} s wall ({bc:.2f} s CPU); ratio {iw / bw:.2f}x wall, {ic / max(bc, 1e-9):.2f}x CPU", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--signals", type=int, default=32_000_000)
    ap.add_argument("--csv-rows", type=int, default=3_200_000)
    ap.add_argument("--csv-repeats", type=int, default=1, help="CSV ingest / CTAS pairs, alternated (the median "
                    "ratio is printed when more than one)")
    ap.add_argument("--reference", action="store_true", help="also time the previous pandas implementation")
    ap.add_argument("--breakdown", action="store_true", help="also time bare inserts into the tables behind signals")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        pq, csv = d / "signals.parquet", d / "signals.csv"
        duckdb.execute(GEN.format(n=args.signals, path=pq, fmt="(FORMAT parquet)"))
        duckdb.execute(GEN.format(n=args.csv_rows, path=csv, fmt="(FORMAT csv, HEADER)"))
        print(f"files: {pq.stat().st_size / 1e6:.0f} MB Parquet ({args.signals:,} rows), "
              f"{csv.stat().st_size / 1e6:.0f} MB CSV ({args.csv_rows:,} rows)", flush=True)
        ing = timed(lambda: ingest(pq, d / "a.duckdb"))
        rss = peak_rss_mb()
        assert ing[2].n_inserted == args.signals, ing[2]
        base = timed(lambda: ctas(pq, d / "b.duckdb", "read_parquet"))
        report(f"Parquet {args.signals:,} signals", args.signals, ing, base)
        print(f"peak RSS after the Parquet ingest: {rss:.0f} MB", flush=True)
        if args.breakdown:
            for variant, what in VARIANTS.items():
                w, c, _ = timed(lambda: bare_insert(pq, d / f"bare_{variant}.duckdb", variant))
                print(f"  bare INSERT into {what}: {w:.2f} s wall ({c:.2f} s CPU), {w / base[0]:.2f}x the CTAS",
                      flush=True)
        ratios = []
        for k in range(args.csv_repeats):      # alternated pairs: a neighbour's load then moves both alike
            for f in (d / "c.duckdb", d / "e.duckdb"):
                f.unlink(missing_ok=True)
            ing = timed(lambda: ingest(csv, d / "c.duckdb"))
            base = timed(lambda: ctas(csv, d / "e.duckdb", "read_csv"))
            report(f"CSV {args.csv_rows:,} rows", args.csv_rows, ing, base)
            ratios.append(ing[0] / base[0])
        if len(ratios) > 1:
            print(f"CSV median ratio of {len(ratios)} alternated pairs: {statistics.median(ratios):.2f}x wall "
                  f"(range {min(ratios):.2f}-{max(ratios):.2f}x)", flush=True)
        if args.breakdown:
            w, c, _ = timed(lambda: bare_insert(csv, d / "bare_csv.duckdb", "signal_rows_lean", "read_csv"))
            print(f"  bare INSERT of the CSV into the store's signal_rows_lean: {w:.2f} s wall ({c:.2f} s CPU), "
                  f"{w / base[0]:.2f}x the CTAS", flush=True)
        if args.reference:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from _pandas_signals import load_with_reference

            def ref():
                with Store(d / "r.duckdb") as s:
                    return load_with_reference(s, str(csv), rubric="llm_rubric")
            rw, rc, _ = timed(ref)
            print(f"previous pandas implementation, same CSV: {rw:.2f} s wall ({rc:.2f} s CPU), "
                  f"{rw / ing[0]:.1f}x the new ingest", flush=True)


if __name__ == "__main__":
    main()

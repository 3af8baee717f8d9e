"""`auditor init`, `auditor sql`, `auditor demo`."""

from __future__ import annotations

import typer

from ._common import (CSV_OPT, JSON_OPT, console, db_path, emit, handle_errors, lock_wait, open_store,
                      print_json)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("sql")(sql)
    app.command("demo")(demo)
    app.command("export")(export_cmd)


@handle_errors
def init(ctx: typer.Context, as_json: bool = JSON_OPT):
    """Create (or upgrade) the store and print its tables' row counts."""
    with open_store(ctx) as store:
        counts = store.counts()
        if as_json:
            print_json({"store": str(store.path), "schema_version": store.schema_version(), "counts": counts})
            return
        console.print(f"store {store.path} at schema version {store.schema_version()}: "
                      + ", ".join(f"{k} {v}" for k, v in counts.items()))


@handle_errors
def sql(ctx: typer.Context, query: str = typer.Argument(..., help="A read-only SQL query (SELECT ...)."),
        timeout: float = typer.Option(60.0, "--timeout", min=0, help="Stop a query that runs longer (seconds; 0 = "
                                                                     "no limit)."),
        as_json: bool = JSON_OPT, as_csv: bool = CSV_OPT):
    """Run a read-only SQL query on the store (views: signals_long, paired, matched). Writes are refused."""
    from ..store import Store, check_read_only

    check_read_only(query)
    with Store(db_path(ctx), read_only=True, lock_wait=lock_wait(ctx), sandbox=True) as store:
        df = store.sql(query, timeout_s=timeout or None)
    emit(df, as_json=as_json, as_csv=as_csv)


@handle_errors
def demo(ctx: typer.Context,
         dataset: str = typer.Option("all", "--dataset", metavar="llm-rubric|hanna|all",
                                     help="Which bundled data: LLM-Rubric dialogues, HANNA stories, or both."),
         bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for the audit."),
         seed: int = typer.Option(0, "--seed", help="Random seed."),
         out: str = typer.Option("reports/demo.html", "--out", help="Where to write the HTML report.")):
    """Build a store from bundled real data (LLM-Rubric: 223 dialogues, a GPT-3.5 judge; HANNA: 1,056 stories of
    11 systems, 3 humans each, 5 LLM judges), audit every judge, write the report."""
    from ..demo import DATASETS, build_demo_store

    if dataset not in DATASETS:
        from ..errors import AuditorError

        raise AuditorError(f"--dataset {dataset!r}: use one of {', '.join(DATASETS)}")
    with open_store(ctx) as store:
        results = build_demo_store(store, dataset)
        for r in results:
            state = f"{r.n_inserted} new, {r.n_unchanged} already stored" + (
                f", {r.n_not_answered} not answered" if r.n_not_answered else "")
            console.print(f"[green]demo[/] {r.source.split('/')[-1]}: {r.n_rows} rows ({state})")
        counts = store.counts()
        console.print(f"store {store.path}: {counts['conversations']} conversations, {counts['raters']} raters, "
                      f"{counts['signals']} signals")
        try:
            from . import audit as audit_cli
        except ImportError:
            return
        audit_cli.demo_audit(store, bootstrap=bootstrap, seed=seed, out=out, dataset=dataset)


@handle_errors
def export_cmd(ctx: typer.Context,
               table: str = typer.Argument(None, help="A table or view of the store (e.g. signals_long, paired)."),
               to: str = typer.Option(..., "--to", help="Output file: .parquet, .csv, .jsonl or .json."),
               query: str = typer.Option(None, "--query", help="A read-only SELECT instead of a table."),
               force: bool = typer.Option(False, "--force", help="Overwrite the output file."),
               as_json: bool = JSON_OPT):
    """Write a table, view or read-only query to Parquet / CSV / JSON lines (what `auditor sql` refuses to COPY)."""
    from ..export import export

    with open_store(ctx, read_only=True) as store:
        n = export(store, to, table=table, query=query, overwrite=force)
    if as_json:
        print_json({"path": to, "rows": n})
        return
    console.print(f"wrote {n} rows to {to}", highlight=False, markup=False)

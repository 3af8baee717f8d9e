"""`auditor rubrics list|show|validate`."""

from __future__ import annotations

import json
import sys

import typer
from rich.markup import escape

from ._common import pd, CSV_OPT, JSON_OPT, console, emit, handle_errors

app = typer.Typer(help="List, show and validate rubrics (YAML files of dimensions and options).",
                  no_args_is_help=True)


def _stored(ctx: typer.Context):
    """The store, read-only, when its file exists (rubrics commands work without one)."""
    from pathlib import Path

    from ._common import db_path, open_store

    path = db_path(ctx)
    return open_store(ctx, read_only=True) if path != ":memory:" and Path(path).exists() else None


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, as_json: bool = JSON_OPT, as_csv: bool = CSV_OPT):
    """List the built-in rubrics and those stored in the store (usable by name)."""
    from ..rubric import builtin_rubric_names, load_rubric

    rows = []
    builtin = builtin_rubric_names()
    for n in builtin:
        r = load_rubric(n)
        rows.append({"rubric": n, "version": r.version, "dimensions": len(r.dimensions),
                     "levels": ", ".join(sorted({d.level for d in r.dimensions})), "source": "built-in",
                     "description": r.description})
    store = _stored(ctx)
    if store is not None:
        with store:
            for n in store.rubric_names():
                if n in builtin:
                    continue
                r = store.rubric(n)
                src = store.con.execute("SELECT source FROM rubrics WHERE rubric = ? AND source IS NOT NULL",
                                        [n]).fetchall()
                rows.append({"rubric": n, "version": r.version, "dimensions": len(r.dimensions),
                             "levels": ", ".join(sorted({d.level for d in r.dimensions})),
                             "source": f"stored in {store.path}" + (f" (loaded from {src[0][0]})" if src else ""),
                             "description": r.description})
    emit(pd.DataFrame(rows), as_json=as_json, as_csv=as_csv, title="Rubrics", key="rubrics")


@app.command()
@handle_errors
def show(ctx: typer.Context,
         rubric: str = typer.Argument(..., help="Rubric name (built-in or stored) or path to a rubric YAML file."),
         as_json: bool = JSON_OPT):
    """Show a rubric's dimensions and options."""
    from ..rubric import load_rubric

    store = _stored(ctx)
    if store is not None:
        with store:
            r = store.rubric(rubric)
    else:
        r = load_rubric(rubric)
    if as_json:
        sys.stdout.write(json.dumps(r.model_dump(), ensure_ascii=False) + "\n")
        return
    console.print(f"[bold]{escape(r.name)}[/] v{escape(r.version)}: {escape(r.description)}")
    rows = []
    for d in r.dimensions:
        rows.append({"dimension": d.name, "level": d.level, "question": d.question,
                     "options": "; ".join(f"{o.label} = {o.value:g}" for o in d.options),
                     "not answered": d.missing_code or "", "higher is better": d.higher_is_better})
    emit(pd.DataFrame(rows), as_json=False, as_csv=False, max_width=70)


@app.command()
@handle_errors
def validate(path: str = typer.Argument(..., help="Rubric YAML file to check."), as_json: bool = JSON_OPT):
    """Check a rubric file; prints what is wrong (file, field, fix) or a summary."""
    from ..rubric import load_rubric

    r = load_rubric(path)
    if as_json:
        sys.stdout.write(json.dumps({"path": path, "ok": True, "rubric": r.name, "version": r.version,
                                     "dimensions": r.dimension_names}) + "\n")
        return
    console.print(f"[green]ok[/] {path}: rubric '{r.name}' v{r.version}, {len(r.dimensions)} dimension(s): "
                  f"{', '.join(r.dimension_names)}")

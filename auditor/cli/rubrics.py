"""`auditor rubrics list|show|validate`."""

from __future__ import annotations

import json
import sys

import pandas as pd
import typer

from ..rubric import builtin_rubric_names, load_rubric
from ._common import CSV_OPT, JSON_OPT, console, emit, handle_errors

app = typer.Typer(help="List, show and validate rubrics (YAML files of dimensions and options).",
                  no_args_is_help=True)


@app.command("list")
@handle_errors
def list_(as_json: bool = JSON_OPT, as_csv: bool = CSV_OPT):
    """List the built-in rubrics."""
    rows = []
    for n in builtin_rubric_names():
        r = load_rubric(n)
        rows.append({"rubric": n, "version": r.version, "dimensions": len(r.dimensions),
                     "levels": ", ".join(sorted({d.level for d in r.dimensions})), "description": r.description})
    emit(pd.DataFrame(rows), as_json=as_json, as_csv=as_csv, title="Built-in rubrics", key="rubrics")


@app.command()
@handle_errors
def show(rubric: str = typer.Argument(..., help="Built-in rubric name or path to a rubric YAML file."),
         as_json: bool = JSON_OPT):
    """Show a rubric's dimensions and options."""
    r = load_rubric(rubric)
    if as_json:
        sys.stdout.write(json.dumps(r.model_dump(), ensure_ascii=False) + "\n")
        return
    console.print(f"[bold]{r.name}[/] v{r.version}: {r.description}")
    rows = []
    for d in r.dimensions:
        rows.append({"dimension": d.name, "level": d.level, "question": d.question,
                     "options": "; ".join(f"{o.label} = {o.value:g}" for o in d.options),
                     "not answered": d.missing_code or "", "higher is better": d.higher_is_better})
    emit(pd.DataFrame(rows), as_json=False, as_csv=False, max_width=70)


@app.command()
@handle_errors
def validate(path: str = typer.Argument(..., help="Rubric YAML file to check.")):
    """Check a rubric file; prints what is wrong (file, field, fix) or a summary."""
    r = load_rubric(path)
    console.print(f"[green]ok[/] {path}: rubric '{r.name}' v{r.version}, {len(r.dimensions)} dimension(s): "
                  f"{', '.join(r.dimension_names)}")

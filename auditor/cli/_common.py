"""What every command shares: the store option, error handling, and output formats (table / JSON / CSV)."""

from __future__ import annotations

import functools
import json
import math
import sys
from typing import Any, Callable

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import AuditorError

def _width() -> int | None:
    """Terminal width when printing to a terminal; a roomier 140 columns when piped (rich's default is 80)."""
    import os

    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit():
        return int(cols)
    return None if sys.stdout.isatty() else 140


console = Console(width=_width())
err_console = Console(stderr=True, width=_width())

JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of a table.")
CSV_OPT = typer.Option(False, "--csv", help="Print CSV instead of a table.")


def db_path(ctx: typer.Context) -> str:
    obj = ctx.find_root().obj or {}
    return obj.get("db", "auditor.duckdb")


def lock_wait(ctx: typer.Context) -> float:
    obj = ctx.find_root().obj or {}
    return float(obj.get("wait", 10.0))


def open_store(ctx: typer.Context, *, read_only: bool = False):
    from ..store import Store

    return Store(db_path(ctx), read_only=read_only, lock_wait=lock_wait(ctx))


def handle_errors(fn: Callable) -> Callable:
    """Turn library errors into one clean line on stderr and exit code 1 (2 for usage errors); with the global
    ``--debug`` they propagate with their traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AuditorError as e:
            if "--debug" in sys.argv[1:]:
                raise
            # escape: the message quotes users' data, which may look like rich markup ("[/x]" would crash)
            err_console.print(f"[bold red]Error:[/] {escape(str(e))}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        except LookupError as e:
            if "--debug" in sys.argv[1:]:
                raise
            err_console.print(f"[bold red]Error:[/] {escape(str(e.args[0] if e.args else e))}", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(2)

    return wrapper


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if hasattr(v, "item"):
        try:
            return _clean(v.item())
        except (ValueError, AttributeError):
            pass
    if isinstance(v, (pd.Timestamp,)):
        return v.isoformat()
    return v


def records(df: pd.DataFrame) -> list[dict]:
    return [{k: _clean(v) for k, v in r.items()} for r in df.to_dict("records")]


def print_json(payload: dict) -> None:
    """One JSON object on stdout (the --json output of a command that reports what it did)."""
    sys.stdout.write(json.dumps(payload, default=str, ensure_ascii=False) + "\n")


def emit(df: pd.DataFrame, *, as_json: bool, as_csv: bool, title: str | None = None, key: str = "rows",
         extra: dict | None = None, max_width: int = 60) -> None:
    if as_json:
        payload = {key: records(df)}
        if extra:
            payload.update(extra)
        sys.stdout.write(json.dumps(payload, default=str, ensure_ascii=False) + "\n")
        return
    if as_csv:
        sys.stdout.write(df.to_csv(index=False))
        return
    table = Table(title=title, show_lines=False, header_style="bold")
    for c in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[c])
        table.add_column(str(c), justify="right" if numeric else "left", overflow="fold", max_width=max_width)
    for r in df.itertuples(index=False):
        table.add_row(*[_fmt(v) for v in r])
    console.print(table)


def _fmt(v: Any) -> str:
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    s = str(v)
    return s if len(s) <= 200 else s[:200] + "..."

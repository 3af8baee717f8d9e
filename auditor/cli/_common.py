"""What every command shares: the store option, error handling, and output formats (table / JSON / CSV)."""

from __future__ import annotations

import functools
import json
import math
import sys
from typing import Any, Callable

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import AuditorError


class _LazyPandas:
    """``pd`` for the CLI modules: pandas is imported on first use, not when `auditor --help` starts."""

    def __getattr__(self, name: str):
        import pandas

        return getattr(pandas, name)


pd = _LazyPandas()

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
    from .._api import Store

    return Store(db_path(ctx), read_only=read_only, lock_wait=lock_wait(ctx))


DEBUG = {"on": False}     # set by auditor.cli.main from the global --debug (also when it runs in-process)


def handle_errors(fn: Callable) -> Callable:
    """Turn library errors into one clean line on stderr and exit code 1 (2 for usage errors); with the global
    ``--debug`` they propagate with their traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AuditorError as e:
            if DEBUG["on"] or "--debug" in sys.argv[1:]:
                raise
            # escape: the message quotes users' data, which may look like rich markup ("[/x]" would crash)
            err_console.print(f"[bold red]Error:[/] {escape(str(e))}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        except LookupError as e:
            # an unknown name the library refuses on purpose (LookupError with a message); a KeyError or an
            # IndexError is a bug, and goes on to the CLI boundary's "internal error"
            if isinstance(e, (KeyError, IndexError)) or DEBUG["on"] or "--debug" in sys.argv[1:]:
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


class PendingAudit:
    """A computed audit to record once the read-only store is closed; ``reused``: the stored audit's id instead."""

    def __init__(self, rows=None, opts=None, fp=None, seconds=None, command=None, reused=None):
        self.rows, self.opts, self.fp, self.seconds = rows, opts, fp, seconds
        self.command, self.reused = command, reused


def stored_or_computed(ctx: typer.Context, opts, *, fresh: bool, command: str, store=None, quiet: bool = False):
    """The audit rows for ``opts``: a stored audit of the same options on the same data (unless ``fresh``), else
    computed now. Returns (rows, pending): pass ``pending`` to :func:`record_audit` after closing ``store``. Says on
    stderr when it reuses one (unless ``quiet``: --json / --csv output carries ``stored_audit`` instead)."""
    from ..audit import find_audit
    from ..audit._stored import timed_audit

    if not fresh:
        hit = find_audit(store, opts)
        if hit is not None:
            if not quiet:
                err_console.print(f"reusing stored audit {hit.audit_id} of {str(hit.created_at)[:19]} (same "
                                  "options, same data; --fresh recomputes)", highlight=False, markup=False)
            return hit.rows, PendingAudit(reused=hit.audit_id)
    rows, fp, seconds = timed_audit(store, opts)
    return rows, PendingAudit(rows, opts, fp, seconds, command)


def record_audit(ctx: typer.Context, pending) -> None:
    """Store a computed audit (history, and reuse by report / compare). A store this process cannot write (held by
    `auditor serve`, a read-only file) keeps its data; the audit is then just not recorded, and we say so."""
    if pending is None or pending.reused:
        return
    from ..audit import save_audit
    from ..store import Store

    try:
        with Store(db_path(ctx), lock_wait=0) as store:
            save_audit(store, pending.rows, pending.opts, pending.fp, seconds=pending.seconds,
                       command=pending.command)
    except Exception as e:  # noqa: BLE001 - recording is a convenience; the audit itself succeeded
        err_console.print(f"note: this audit was not recorded in the store ({str(e).splitlines()[0][:160]})",
                          highlight=False, markup=False)


def print_json(payload: dict) -> None:
    """One JSON object on stdout (the --json output of a command that reports what it did)."""
    sys.stdout.write(json.dumps(payload, default=str, ensure_ascii=False) + "\n")


def emit(df: pd.DataFrame, *, as_json: bool, as_csv: bool, title: str | None = None, key: str = "rows",
         extra: dict | None = None, max_width: int = 60, keep: int = 2) -> None:
    """A result as JSON, CSV or a table. The table fits the terminal: cells never wrap mid-word; columns that do not
    fit are left out from the right (never the first ``keep``) and named under the table. Cell text is shown as
    text: no rich markup, and control characters (terminal escapes) as ``\\xNN``."""
    if as_json:
        payload = {key: records(df)}
        if extra:
            payload.update(extra)
        sys.stdout.write(json.dumps(payload, default=str, ensure_ascii=False) + "\n")
        return
    if as_csv:
        sys.stdout.write(df.to_csv(index=False))
        return
    from rich.cells import cell_len

    cells = {c: [_visible(_fmt(v)) for v in df[c]] for c in df.columns}
    need = {c: min(max_width, max([cell_len(str(c))] + [cell_len(v) for v in cells[c]])) + 3 for c in df.columns}
    cols, hidden = list(df.columns), []
    while len(cols) > keep and sum(need[c] for c in cols) + 1 > console.width:
        hidden.insert(0, cols.pop())
    table = Table(title=title, show_lines=False, header_style="bold")
    for c in cols:
        numeric = pd.api.types.is_numeric_dtype(df[c])
        table.add_column(escape(_visible(str(c))), justify="right" if numeric else "left", overflow="fold",
                         max_width=max_width, no_wrap=need[c] - 3 < max_width)
    for i in range(len(df)):
        table.add_row(*[escape(cells[c][i]) for c in cols])
    console.print(table)
    if hidden:
        console.print(f"not shown at this terminal width ({console.width} columns): "
                      f"{escape(', '.join(map(str, hidden)))} (see --json / --csv, or widen the terminal)",
                      style="dim", highlight=False)


def _visible(s: str) -> str:
    """Control characters (a terminal escape sequence, a NUL) written as \\xNN; tabs and newlines as spaces."""
    if s.isprintable():
        return s
    return "".join(" " if ch in "\t\n\r" else f"\\x{ord(ch):02x}" if not ch.isprintable() and ord(ch) < 0x100
                   else ch for ch in s)


def _fmt(v: Any) -> str:
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    s = str(v)
    return s if len(s) <= 200 else s[:200] + "..."

"""The command-line interface: a thin skin over the library (parse, call, format)."""

from __future__ import annotations

import os

# The audit runs its dimensions on threads of its own; OpenBLAS's worker threads only spin on its small products and
# compete with them (the demo audit: 1.2 -> 0.8 CPU-s; the 1M-conversation audit: 23.1 s / 40.1 CPU-s -> 21.1 s /
# 34.8 CPU-s). Set before numpy is first imported; a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import typer  # noqa: E402

from . import ingest as _ingest
from . import rubrics as _rubrics
from . import store_cmds as _store_cmds

app = typer.Typer(
    name="auditor",
    help="Audit LLM judges and user simulators against human ratings: agreement, bias and calibration with "
         "confidence intervals, stored in DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("auditor")
        except PackageNotFoundError:
            v = "unknown (not installed)"
        typer.echo(f"auditor {v}")
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          db: str = typer.Option("auditor.duckdb", "--db", envvar="AUDITOR_DB",
                                 help="The store: a DuckDB file (created if missing). Env: AUDITOR_DB."),
          wait: float = typer.Option(10.0, "--wait", envvar="AUDITOR_LOCK_WAIT", min=0,
                                     help="Seconds to wait for another process that holds the store (e.g. "
                                          "`auditor serve`) before giving up. Env: AUDITOR_LOCK_WAIT."),
          debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of an error."),
          _v: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                  help="Print the version and exit.")):
    """Global options."""
    ctx.obj = {"db": db, "wait": wait, "debug": debug}


app.add_typer(_ingest.app, name="ingest")
app.add_typer(_rubrics.app, name="rubrics")
_store_cmds.register(app)


def _register_optional() -> None:
    """Command groups that live in their own modules (each registers itself when importable)."""
    import importlib

    for mod in ("audit", "judge", "report", "annotate", "panel", "plan", "calibrate"):
        try:
            m = importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{mod}":
                raise
            continue
        m.register(app)


_register_optional()


INTERNAL_ERROR = 70       # EX_SOFTWARE
_GLOBAL_VALUED = ("--db", "--wait")


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _global_options_first(args: list[str]) -> list[str]:
    """Accept the global options after the command name too (``auditor audit --db x.duckdb``): move them first."""
    front, rest, i = [], [], 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest += args[i:]
            break
        if a in _GLOBAL_VALUED and i + 1 < len(args) and (a == "--db" or _is_number(args[i + 1])):
            front += [a, args[i + 1]]
            i += 2
            continue
        if a.split("=", 1)[0] in _GLOBAL_VALUED and "=" in a or a == "--debug":
            front.append(a)
        else:
            rest.append(a)
        i += 1
    return front + rest


def main(argv: list[str] | None = None) -> None:
    """The console script: every error ends in one line and a non-zero exit (``--debug`` shows tracebacks).
    ``argv`` (default ``sys.argv[1:]``) lets tests run the whole boundary in-process."""
    import sys

    args = _global_options_first(list(sys.argv[1:] if argv is None else argv))
    batch_wait = args[-1:] == ["--wait"] and "judge" in args and ("collect" in args or "run" in args)
    if args and args[-1] in _GLOBAL_VALUED and not batch_wait:     # `judge ... --wait` alone: a batch run's flag
        sys.stderr.write(f"Error: {args[-1]} requires an argument. Fix: e.g. `auditor {args[-1]} "
                         f"{'store.duckdb' if args[-1] == '--db' else '30'} audit`.\n")
        sys.exit(2)
    if "--json" in args and "--csv" in args:
        sys.stderr.write("Error: --json and --csv both given. Fix: choose one output format.\n")
        sys.exit(2)
    debug = "--debug" in args
    from ._common import DEBUG

    DEBUG["on"] = debug
    try:
        from typer.main import get_command

        from ._help import polish

        cmd = get_command(app)
        polish(cmd)
        click = _click_exceptions()
        try:
            code = cmd.main(args=args, prog_name="auditor", standalone_mode=False)
        except click.NoArgsIsHelpError as e:      # `auditor`, `auditor ingest`: the help, as before
            sys.stdout.write(e.ctx.get_help() + "\n" if e.ctx else str(e) + "\n")
            sys.exit(2)
        except click.UsageError as e:
            if debug:
                raise
            sys.stderr.write(usage_line(e) + "\n")
            sys.exit(e.exit_code)
        except typer.Abort:
            raise KeyboardInterrupt from None
        sys.exit(code if isinstance(code, int) else 0)
    except KeyboardInterrupt:
        if debug:
            raise
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as e:      # noqa: BLE001 - the CLI boundary: a bug must not end in a raw traceback
        if debug:
            raise
        if interrupted(e):          # Ctrl-C while DuckDB ran a query: it raises its own error, not KeyboardInterrupt
            sys.stderr.write("interrupted\n")
            sys.exit(130)
        sys.stderr.write(f"Error: internal error ({type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
                         "). This is a bug in auditor: rerun with --debug for the traceback and report it.\n")
        sys.exit(INTERNAL_ERROR)


def interrupted(e: BaseException) -> bool:
    """Whether ``e`` is a Ctrl-C: Python's, or DuckDB's for a query it was running (``InterruptException``, or a
    ``RuntimeError: Query interrupted`` from some of its result paths)."""
    if isinstance(e, KeyboardInterrupt):
        return True
    name = type(e).__name__
    return name == "InterruptException" or (isinstance(e, RuntimeError) and "interrupted" in str(e).lower())


def _click_exceptions():
    """Click's exception classes: typer >= 0.2x vendors click as ``typer._click``."""
    try:
        from typer._click import exceptions
    except ImportError:                    # an older typer on the system click
        from click import exceptions
    return exceptions


def usage_line(e) -> str:
    """A click usage error as one line: what was wrong, and where the options are listed."""
    msg = " ".join(e.format_message().split())
    where = e.ctx.command_path if e.ctx is not None else "auditor"
    return f"Error: {msg}{'' if msg.endswith(('.', '?', '!')) else '.'} Fix: see `{where} -h` for what it takes."

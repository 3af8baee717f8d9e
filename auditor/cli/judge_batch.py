"""`auditor judge run --batch` and `auditor judge collect`: judge runs through a provider's Batch API."""

from __future__ import annotations

import json
import os
import sys

import typer
from rich.markup import escape

from ._common import JSON_OPT, console, err_console, handle_errors, open_store


def _money(judge, v) -> str:
    if v is None:
        return "unknown (no prices in the config)"
    est = " (estimated: half the synchronous prices; set price_in_per_1m_batch / price_out_per_1m_batch)" \
        if judge is not None and judge.batch_prices_estimated else ""
    return f"${v:,.4f}{est}"


def submit(ctx: typer.Context, judge, *, where, limit, batch_size, wait: bool, poll_every: float, as_json: bool,
           max_failure_rate: float) -> None:
    """The `--batch` form of `judge run`: submit, then (with --wait) collect until done."""
    from ..judge._batch import submit_batches

    with open_store(ctx) as store:
        res = submit_batches(store, judge, where=where, limit=limit, batch_size=batch_size, env=os.environ)
    if as_json and not wait:
        sys.stdout.write(json.dumps(res.to_dict(), default=str) + "\n")
        return
    if not as_json:
        if res.n_adopted:
            console.print(f"[yellow]note[/] adopted {res.n_adopted} batch(es) an interrupted submission had created "
                          "(found by their metadata; not submitted again).", highlight=False)
        if res.run_id is None:
            console.print(f"[bold]{escape(res.rater_id)}[/]: nothing to submit: {res.n_cached} item(s) already stored, "
                          f"{res.n_in_batches} waiting in earlier batches (of {res.n_planned}). "
                          + ("`auditor judge collect` stores those once the provider has finished."
                             if res.n_in_batches else ""), highlight=False, soft_wrap=True)
        else:
            ids = ", ".join(b["batch_id"] for b in res.batches[:5]) + (", ..." if len(res.batches) > 5 else "")
            console.print(f"[bold]{escape(res.rater_id)}[/] run {res.run_id}: submitted {res.n_submitted} item(s) in "
                          f"{len(res.batches)} batch(es) ({ids}); {res.n_cached} already stored, {res.n_in_batches} "
                          f"already waiting in batches, {res.n_failed} failed before submission.", highlight=False,
                          soft_wrap=True)
            if not wait:
                console.print(f"`auditor judge collect {res.run_id}` stores the replies once the provider has finished "
                              "(OpenAI: within 24 h); `--wait` waits here.", highlight=False, soft_wrap=True)
    if wait and (res.run_id is not None or res.n_in_batches):
        _collect(ctx, run=res.run_id, judge=judge, wait=True, poll_every=poll_every, as_json=as_json,
                 max_failure_rate=max_failure_rate, submitted=res.to_dict())
    elif res.status == "failed":
        err_console.print(f"[bold red]Error:[/] all {res.n_failed} item(s) failed before submission (their prompt "
                          "did not render). Fix: `auditor judge show latest` lists the reasons.", highlight=False)
        raise typer.Exit(1)


def _collect(ctx: typer.Context, *, run, judge, wait: bool, poll_every: float, as_json: bool,
             max_failure_rate: float, submitted: dict | None = None) -> None:
    from ..judge._batch import collect_batches

    def progress(r) -> None:
        if wait and not as_json and r.n_open:
            states = ", ".join(f"{k} {v}" for k, v in sorted(r.statuses.items()))
            err_console.print(f"[dim]waiting: {r.n_open} batch(es) open ({states}); {r.n_ok} answered, "
                              f"{r.n_failed} failed so far[/]", highlight=False)

    from . import interrupted

    try:
        with open_store(ctx) as store:
            res = collect_batches(store, run=run, judge=judge, env=os.environ, wait=wait, poll_s=min(10.0, poll_every),
                                  poll_max_s=poll_every, progress=progress)
    except BaseException as e:    # Ctrl-C in a sleep (KeyboardInterrupt) or in a DuckDB query (its own error)
        if not interrupted(e):
            raise
        err_console.print("[yellow]interrupted[/]: every collected batch is stored; `auditor judge collect` "
                          "resumes (nothing is submitted twice).", highlight=False)
        raise typer.Exit(130)
    if as_json:
        out = res.to_dict() if submitted is None else {"submitted": submitted, "collected": res.to_dict()}
        sys.stdout.write(json.dumps(out, default=str) + "\n")
    else:
        cost = _cost(ctx, res)
        console.print(f"collected {res.n_collected} batch(es): {res.n_ok} item(s) answered, {res.n_failed} failed, "
                      f"{res.n_resubmitted} re-submitted; {res.n_open} batch(es) still open; tokens "
                      f"{res.tokens_in:,} in / {res.tokens_out:,} out{cost}", highlight=False, soft_wrap=True)
        for run_id, status in res.runs.items():
            console.print(f"  run {run_id}: [bold]{status}[/]", highlight=False)
        if res.n_adopted:
            console.print(f"[yellow]note[/] adopted {res.n_adopted} batch(es) an interrupted submission had created.",
                          highlight=False)
        if res.n_open:
            states = ", ".join(f"{k}: {v}" for k, v in sorted(res.statuses.items()) if k not in
                               ("completed", "expired", "failed", "cancelled"))
            console.print(f"{res.n_open} batch(es) still at the provider ({states}): run `auditor judge collect` "
                          "again later, or with --wait.", highlight=False, soft_wrap=True)
    failed_runs = [r for r, s in res.runs.items() if s == "failed"]
    if failed_runs:
        err_console.print(f"[bold red]Error:[/] run {failed_runs[0]} failed: every item failed; the first: "
                          f"{escape(str(res.first_failure))}. Fix: `auditor judge show {failed_runs[0]}` lists the "
                          "reasons; `auditor judge run CONFIG --batch` retries the failed items.", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(1)
    from .judge import exit_if_too_many_failed

    exit_if_too_many_failed(res.n_failed, res.n_ok + res.n_failed, max_failure_rate, res.first_failure,
                            what="collected", run=next(iter(res.runs), "latest"),
                            retry="`auditor judge run CONFIG --batch` retries the failed items")


def _cost(ctx, res) -> str:
    """The cost of what was collected, per the runs' configs (batch prices)."""
    if not res.runs:
        return ""
    from ..judge._batch import judge_from_store

    with open_store(ctx, read_only=True) as store:
        hashes = {h for (h,) in store.con.execute("SELECT DISTINCT config_hash FROM runs WHERE list_contains(?, "
                                                  "run_id)", [list(res.runs)]).fetchall()}
        if len(hashes) != 1:
            return ""
        try:
            judge = judge_from_store(store, hashes.pop())
        except Exception:  # noqa: BLE001 - the cost line is optional; `judge show` has it
            return ""
    return f"; cost {_money(judge, judge.batch_cost_usd(res.tokens_in, res.tokens_out))}"


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def collect(ctx: typer.Context,
                run: str = typer.Argument(None, help="A batch run id (or a unique prefix, or 'latest'); default: "
                                          "every run with open batches."),
                config: str = typer.Option(None, "--config", metavar="CONFIG.yaml",
                                           help="The judge config, when the store cannot rebuild it."),
                wait: bool = typer.Option(False, "--wait", help="Poll until every batch is collected."),
                poll_every: float = typer.Option(300.0, "--poll-every", min=0.01, metavar="SECONDS",
                                                 help="Longest wait between polls with --wait (backoff from 10 s)."),
                max_failure_rate: float = typer.Option(0.05, "--max-failure-rate", min=0.0, max=1.0,
                                                       help="Exit 1 when more than this share of the collected "
                                                            "items failed."),
                as_json: bool = JSON_OPT):
        """Store the replies of finished provider batches (`judge run --batch`); re-submit what may succeed.

        Safe to run any time and to kill: a batch's results are stored in one transaction, and no item is submitted
        again while its batch is open.
        """
        from ..judge import load_judge

        judge = load_judge(config) if config else None
        _collect(ctx, run=run, judge=judge, wait=wait, poll_every=poll_every, as_json=as_json,
                 max_failure_rate=max_failure_rate)

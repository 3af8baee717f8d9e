"""`auditor judge run|validate|list|show`: run LLM judges and simulator surveys over the store's conversations."""

from __future__ import annotations

import json
import os
import sys

import typer
from rich.markup import escape

from ._common import pd, CSV_OPT, JSON_OPT, console, emit, err_console, handle_errors, open_store

app = typer.Typer(help="Run LLM judges and simulator surveys (judge configs: YAML + a Jinja2 prompt) and report "
                       "their runs.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    from . import judge_batch

    judge_batch.register(app)
    root.add_typer(app, name="judge")


def _money(v) -> str:
    return "unknown (no prices in the config)" if v is None or (isinstance(v, float) and v != v) else f"${v:,.4f}"


def _notes_only():
    """A progress callback that prints only the run's announcements (long waits) on stderr, one line each."""
    seen = {"n": 0}

    def update(p) -> None:
        if p.n_notes > seen["n"] and p.note:
            seen["n"] = p.n_notes
            err_console.print(f"[yellow]note[/] {escape(p.note)}", highlight=False, soft_wrap=True)

    return update


def _progress_display():
    """A rich progress bar on stderr fed by the library's progress callback (announcements printed above it)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("[green]done {task.fields[done]}[/] [red]failed {task.fields[failed]}[/] "
                   "[dim]cached {task.fields[cached]}[/]"),
        TextColumn("{task.fields[rate]:.1f}/s"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        TextColumn("tok {task.fields[tokens]}"), TextColumn("{task.fields[cost]}"),
        console=err_console, transient=False, refresh_per_second=5)
    state: dict = {"n_notes": 0}

    def update(p) -> None:
        if p.n_notes > state["n_notes"] and p.note:
            state["n_notes"] = p.n_notes
            bar.console.print(f"[yellow]note[/] {escape(p.note)}", highlight=False, soft_wrap=True)
        fields = dict(done=p.done, failed=p.failed, cached=p.cached, rate=p.rate,
                      tokens=f"{p.tokens_in + p.tokens_out:,}",
                      cost="" if p.cost_usd is None else f"${p.cost_usd:,.4f}")
        if "task" not in state:
            state["task"] = bar.add_task("judging", total=p.to_do, completed=p.finished, **fields)
        else:
            bar.update(state["task"], completed=p.finished, **fields)

    return bar, update


@app.command()
@handle_errors
def run(ctx: typer.Context,
        config: str = typer.Argument(..., help="Judge config YAML file (see examples/judges/)."),
        limit: int = typer.Option(None, "--limit", min=0, help="Judge only the first N selected conversations "
                                  "(in load order: repeating --limit N names the same ones)."),
        where: str = typer.Option(None, "--where", help="SQL condition over the conversations table, e.g. "
                                  "\"task_id LIKE 'airline%'\" or \"user_kind = 'human'\"."),
        concurrency: int = typer.Option(None, "--concurrency", min=1, help="Requests in flight (default: the "
                                        "config's concurrency)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        max_failure_rate: float = typer.Option(0.05, "--max-failure-rate", min=0.0, max=1.0,
                                               help="Exit 1 (after storing what succeeded) when more than this "
                                                    "share of the requested items failed."),
        batch: bool = typer.Option(False, "--batch", help="Submit through the provider's Batch API (about half "
                                   "the price; replies within 24 h) instead of asking now; `auditor judge collect` "
                                   "stores the replies. Also `batch: true` in the config."),
        batch_size: int = typer.Option(None, "--batch-size", min=1, max=50_000, metavar="N",
                                       help="Most requests per batch (default: the config's batch_size, 50,000)."),
        wait: bool = typer.Option(False, "--wait", help="With --batch: poll until every batch is collected."),
        poll_every: float = typer.Option(300.0, "--poll-every", min=0.01, metavar="SECONDS",
                                         help="With --batch --wait: longest wait between polls."),
        as_json: bool = JSON_OPT):
    """Run a judge config over the store's conversations and store every signal.

    Resumable: items (conversation x sample) already stored for this config are not requested again, and stored
    failures are retried. Ctrl-C stops cleanly and keeps everything finished (exit code 130). With --batch the
    requests go to the provider's Batch API; items waiting in a batch are never asked again until collected.
    """
    from ..judge import load_judge, run_judge

    judge = load_judge(config)
    if batch or judge.config.batch:
        from . import judge_batch

        judge_batch.submit(ctx, judge, where=where, limit=limit, batch_size=batch_size, wait=wait,
                           poll_every=poll_every, as_json=as_json, max_failure_rate=max_failure_rate)
        return
    if wait or batch_size is not None:
        from ..errors import AuditorError

        raise AuditorError(f"{'--wait' if wait else '--batch-size'} applies to batch runs only. Fix: add --batch "
                           "(or leave the option out).")
    bar = None
    update = _notes_only()
    if not quiet and not as_json and err_console.is_terminal:     # a log (CI) gets the summary, not the bar
        bar, update = _progress_display()
    try:
        with open_store(ctx) as store:
            if bar is not None:
                bar.start()
            try:
                res = run_judge(store, judge, where=where, limit=limit, concurrency=concurrency, env=os.environ,
                                progress=update)
            finally:
                if bar is not None:
                    bar.stop()
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/] before the run started; nothing was requested.")
        raise typer.Exit(130)
    if as_json:
        sys.stdout.write(json.dumps(res.to_dict(), default=str) + "\n")
    else:
        console.print(f"[bold]{escape(res.rater_id)}[/] run {res.run_id}: [bold]{res.status}[/] in {res.wall_s:.1f} s: "
                      f"{res.n_done} done, {res.n_failed} failed, {res.n_cached} already stored "
                      f"(of {res.n_planned} conversation x sample items); tokens {res.tokens_in:,} in / "
                      f"{res.tokens_out:,} out; cost {_money(res.cost_usd)}", highlight=False, soft_wrap=True)
        console.print(f"time: start-up {res.startup_s:.1f} s, requests {res.request_s:.1f} s, retry waits "
                      f"{res.retry_wait_s:.1f} s (requests and waits summed over the workers)", highlight=False,
                      soft_wrap=True)
        if res.n_in_batches:
            console.print(f"[yellow]note[/] {res.n_in_batches} item(s) are waiting in provider batches and were not "
                          "asked again: `auditor judge collect` stores their replies.", highlight=False)
        if res.n_without_messages:
            console.print(f"[yellow]note[/] {res.n_without_messages} selected conversation(s) have no messages "
                          "and were skipped (load them with `auditor ingest conversations`).", highlight=False)
        if res.n_failed:
            console.print(f"[yellow]{res.n_failed} item(s) failed[/] and are stored as failed signals with their "
                          f"reason: `auditor judge show {res.run_id}`. Run the same command again to retry them.",
                          highlight=False, soft_wrap=True)
    if res.status == "interrupted":
        err_console.print("[yellow]interrupted[/]: finished items are stored; run the same command to resume.",
                          highlight=False)
        raise typer.Exit(130)
    if res.status == "failed":
        err_console.print(f"[bold red]Error:[/] run failed: {escape(str(res.error))} (finished items are stored)",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    exit_if_too_many_failed(res.n_failed, res.n_done + res.n_failed, max_failure_rate, res.first_failure,
                            what="requested", run=res.run_id, retry="the same command again retries the failed "
                            "items (what succeeded is stored)")


def exit_if_too_many_failed(n_failed: int, asked: int, max_rate: float, first: str | None, *, what: str, run: str,
                            retry: str) -> None:
    """Exit 1 (after everything is stored) when more than ``max_rate`` of the ``asked`` items failed."""
    if asked and n_failed / asked > max_rate:
        err_console.print(f"[bold red]Error:[/] {n_failed} of {asked} {what} item(s) failed ({n_failed / asked:.1%} > "
                          f"--max-failure-rate {max_rate:.1%}); the first: {escape(str(first).rstrip('.'))}. Fix: "
                          f"`auditor judge show {run}` lists the reasons; {retry}.", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command()
@handle_errors
def validate(config: str = typer.Argument(..., help="Judge config YAML file to check."),
             show_prompt: bool = typer.Option(False, "--show-prompt", help="Print the prompt rendered for an "
                                              "example conversation."),
             as_json: bool = JSON_OPT):
    """Check a judge config, its prompt template and its rubric; print its hash and rater id."""
    from ..judge import PromptRenderer, load_judge
    from ..judge._prompt import SAMPLE_CONVERSATION
    from ..judge._records import safe_url

    judge = load_judge(config)
    messages = PromptRenderer(judge.prompt_text, judge.rubric, judge.role, judge.prompt_path).render(
        SAMPLE_CONVERSATION, 0)
    var = judge.config.api_key_env
    key_state = "not needed" if var is None else (f"${var} is set" if os.environ.get(var) else
                                                  f"${var} is NOT set: export it before `auditor judge run`")
    info = {"config": str(judge.path), "name": judge.name, "rater_id": judge.rater_id,
            "config_hash": judge.config_hash, "role": judge.role, "model": judge.config.model,
            "base_url": safe_url(judge.base_url), "mode": judge.config.mode, "rubric": judge.rubric.name,
            "dimensions": judge.rubric.dimension_names, "prompt": str(judge.prompt_path), "api_key": key_state,
            "samples": judge.config.samples, "temperature": judge.config.temperature}
    if as_json:
        sys.stdout.write(json.dumps({**info, "example_messages": messages}) + "\n")
        return
    console.print(f"[green]ok[/] {escape(config)}: {judge.role} [bold]{escape(judge.rater_id)}[/] (config hash "
                  f"{judge.config_hash})",
                  highlight=False)
    for k in ("model", "base_url", "mode", "rubric", "prompt", "samples", "temperature", "api_key"):
        console.print(f"  {k}: {escape(str(info[k]))}", highlight=False)
    console.print(f"  dimensions: {', '.join(judge.rubric.dimension_names)}", highlight=False)
    if show_prompt:
        for m in messages:
            console.rule(m["role"])
            console.print(m["content"], markup=False, highlight=False)


@app.command("list")
@handle_errors
def list_(ctx: typer.Context,
          name: str = typer.Option(None, "--name", help="Only runs of this judge name (or rater id)."),
          as_json: bool = JSON_OPT, as_csv: bool = CSV_OPT):
    """List judge runs, newest first (status, counts, tokens, cost, wall time)."""
    from ..judge._records import list_runs

    with open_store(ctx, read_only=True) as store:
        df = list_runs(store, name=name)
    if not as_json and not as_csv:
        df = pd.DataFrame({
            "run": df["run_id"], "rater": df["rater_id"], "status": df["status"],
            "started": df["started_at"].astype(str).str[:19], "done": df["n_done"],
            "failed": df["n_failed"], "cached": df["n_cached"], "tokens": df["tokens_in"] + df["tokens_out"],
            "cost $": df["cost_usd"], "wall s": df["wall_s"].round(1)})
    emit(df, as_json=as_json, as_csv=as_csv, title="Judge runs", key="runs")


@app.command()
@handle_errors
def show(ctx: typer.Context,
         run_id: str = typer.Argument(..., help="A run id (or a unique prefix, or 'latest')."),
         as_json: bool = JSON_OPT):
    """Show one run: its config, counts, tokens, cost, and why items failed."""
    from ..judge._records import get_run

    with open_store(ctx, read_only=True) as store:
        rec = get_run(store, run_id)
    if as_json:
        sys.stdout.write(json.dumps(rec, default=str) + "\n")
        return
    cfg = rec.get("config") or {}
    head = (f"{rec['status']} ({rec['rater_id']}, {cfg.get('role', '?')} {cfg.get('model', '?')} at "
            f"{cfg.get('base_url', '?')}, rubric {cfg.get('rubric', '?')})")
    console.print(f"run [bold]{rec['run_id']}[/]: {escape(head)}", highlight=False, soft_wrap=True)
    rows = [("planned items", rec["n_planned"]), ("already stored", rec["n_cached"]), ("done", rec["n_done"]),
            ("failed", rec["n_failed"]), ("tokens in", rec["tokens_in"]), ("tokens out", rec["tokens_out"]),
            ("cost", _money(rec["cost_usd"])), ("wall time (s)", f"{rec['wall_s'] or 0:.2f}"),
            ("started", str(rec["started_at"])[:19]), ("finished", str(rec["finished_at"] or "")[:19])]
    meta = rec.get("metadata") or {}
    for k, label in (("startup_s", "start-up (s)"), ("request_s", "in requests (s, summed over workers)"),
                     ("retry_wait_s", "retry waits (s, summed over workers)")):
        if meta.get(k) is not None:
            rows.append((label, f"{meta[k]:.2f}"))
    if meta.get("cost_estimated"):
        rows[6] = ("cost", _money(rec["cost_usd"]) + " (estimated: half the synchronous prices)")
    for k in ("mode", "batch_size", "where", "limit", "concurrency", "error", "note"):
        if meta.get(k) is not None:
            rows.append((k, meta[k]))
    emit(pd.DataFrame(rows, columns=["", "value"]).astype({"value": str}), as_json=False, as_csv=False)
    if rec.get("batches"):
        emit(pd.DataFrame(rec["batches"]).astype(str), as_json=False, as_csv=False, title="Provider batches")
    if rec["failures"]:
        emit(pd.DataFrame(rec["failures"]), as_json=False, as_csv=False, title="Why items failed", max_width=100)

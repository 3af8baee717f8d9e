"""`auditor ingest signals|conversations|tau-bench|tau-usi`: load users' files, all-or-nothing and idempotent."""

from __future__ import annotations

import json
import sys

import typer
from rich.markup import escape

from ..errors import AuditorError
from ._common import console, handle_errors, open_store

app = typer.Typer(help="Load ratings, conversations and benchmark results into the store (all-or-nothing per "
                       "file; loading the same file twice adds nothing).", no_args_is_help=True)

REPLACE_OPT = typer.Option(False, "--replace", help="Overwrite stored values that differ (default: refuse).")
JSON_OPT = typer.Option(False, "--json", help="Print the load summary as JSON.")


def _parse_map(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items or []:
        if "=" not in it:
            raise AuditorError(f"--map {it!r}: expected SOURCE=CANONICAL, e.g. --map text_id=conversation_id")
        a, b = (x.strip() for x in it.split("=", 1))
        if not a or not b:
            raise AuditorError(f"--map {it!r}: both sides must be column names, e.g. --map text_id=conversation_id")
        if a in out and out[a] != b:
            raise AuditorError(f"--map {a}=... is given twice ({out[a]!r} and {b!r}). Fix: map each column once.")
        taken = [k for k, v in out.items() if v == b and k != a]
        if taken:
            raise AuditorError(f"--map {taken[0]}={b} and --map {a}={b} both fill {b!r}. Fix: map one source "
                               "column to each canonical column.")
        out[a] = b
    return out


def _report(res, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(res.to_dict(), default=str) + "\n")
        return
    what = (f"{res.n_inserted} inserted, {res.n_replaced} replaced, {res.n_unchanged} unchanged"
            + (f", {res.n_not_answered} not answered" if res.n_not_answered else "")
            + (f", {res.n_failed} failed" if getattr(res, "n_failed", 0) else ""))
    # escape: paths and notes quote users' data, which may look like rich markup ("[/x]" would crash after commit)
    if res.batch_id:
        console.print(f"[green]loaded[/] {escape(str(res.source))}: {res.n_rows} rows: {what} (batch {res.batch_id})",
                      highlight=False)
    else:
        console.print(f"[yellow]nothing new[/] in {escape(str(res.source))}: {what}", highlight=False)
    for n in res.notes:
        console.print(f"  note: {escape(str(n))}", highlight=False)


@app.command()
@handle_errors
def signals(ctx: typer.Context,
            path: str = typer.Argument(..., help="CSV, TSV, JSONL or Parquet file of ratings."),
            rubric: str = typer.Option(..., "--rubric", help="Built-in rubric name or rubric YAML path."),
            rater_kind: str = typer.Option(None, "--rater-kind", help="human | judge | simulator, for every row."),
            rater_id: str = typer.Option(None, "--rater-id", help="Rater id for every row."),
            map_: list[str] = typer.Option(None, "--map", help="Rename a column: SOURCE=CANONICAL (repeatable)."),
            wide: bool = typer.Option(False, "--wide", help="One column per dimension instead of long rows."),
            missing_code: str = typer.Option(None, "--missing-code", help="Label/value meaning 'not answered'."),
            renormalize: bool = typer.Option(False, "--renormalize",
                                             help="Divide option probabilities by their sum when it is not 1."),
            between_options: bool = typer.Option(False, "--between-options",
                                                 help="Accept values between the options (a judge's mean of several "
                                                      "answers); stored without a label."),
            score: str = typer.Option("expected", "--score",
                                      help="Rows with only probabilities: 'expected' value or 'argmax' option."),
            model: str = typer.Option(None, "--model", help="Model name to record for an LLM rater."),
            replace: bool = REPLACE_OPT, as_json: bool = JSON_OPT):
    """Load ratings (human, judge or simulator signals) scored on a rubric."""
    if score not in ("expected", "argmax"):
        raise AuditorError(f"--score {score!r}: use expected or argmax")
    if rater_kind is not None and rater_kind.lower() not in ("human", "judge", "simulator"):
        raise AuditorError(f"--rater-kind {rater_kind!r}: not a rater kind. Fix: use human, judge or simulator.")
    with open_store(ctx) as store:
        res = store.ingest_signals(path, rubric=rubric, rater_kind=rater_kind, rater_id=rater_id,
                                   mapping=_parse_map(map_), wide=wide, missing_code=missing_code,
                                   renormalize=renormalize, between_options=between_options, score=score,
                                   model=model, replace=replace)
    _report(res, as_json)


@app.command()
@handle_errors
def conversations(ctx: typer.Context,
                  path: str = typer.Argument(..., help="CSV, TSV, JSONL, JSON or Parquet file of conversations."),
                  map_: list[str] = typer.Option(None, "--map", help="Rename a column: SOURCE=CANONICAL."),
                  user_kind: str = typer.Option(None, "--user-kind", help="'human' or the simulator id, every row."),
                  replace: bool = REPLACE_OPT, as_json: bool = JSON_OPT):
    """Load conversations (messages as a JSON list of {role, content})."""
    with open_store(ctx) as store:
        res = store.ingest_conversations(path, mapping=_parse_map(map_), user_kind=user_kind, replace=replace)
    _report(res, as_json)


@app.command("tau-bench")
@handle_errors
def tau_bench(ctx: typer.Context,
              path: str = typer.Argument(..., help="tau-bench results JSON (EnvRunResult list) or tau2-bench Results."),
              user_kind: str = typer.Option(None, "--user-kind", help="Simulator id (default: from the file)."),
              domain: str = typer.Option(None, "--domain", help="airline | retail | ... (task ids become DOMAIN_N)."),
              system: str = typer.Option(None, "--system", help="The agent (system under test) of every run "
                                         "(default: tau2-bench's agent model; for system-level audits)."),
              replace: bool = REPLACE_OPT, as_json: bool = JSON_OPT):
    """Load tau-bench / tau2-bench runs: transcripts and rewards as conversations tied to tasks."""
    with open_store(ctx) as store:
        res = store.ingest_tau_bench(path, user_kind=user_kind, domain=domain, system=system, replace=replace)
    _report(res, as_json)


@app.command("tau-usi")
@handle_errors
def tau_usi(ctx: typer.Context,
            path: str = typer.Argument(..., help="The tau-bench human study's JSON: human annotations keyed "
                                                 "DOMAIN_N[_annK], or simulator runs ({\"results\": [...]})."),
            kind: str = typer.Option(..., "--kind", help="human (annotation file) | simulator (simulator runs)."),
            rater_id: str = typer.Option(None, "--rater-id", help="Simulator id (default: the file's stem). For "
                                         "--kind human: prefix of the per-batch rater ids (default human: "
                                         "human-batch1, human-batch2, ...)."),
            replace: bool = REPLACE_OPT, as_json: bool = JSON_OPT):
    """Load the tau-bench human study's release format: conversations, rewards and tau_usi survey answers."""
    if kind not in ("human", "simulator"):
        raise AuditorError(f"--kind {kind!r}: use human (annotation file) or simulator (simulator runs)")
    with open_store(ctx) as store:
        res = store.ingest_tau_usi(path, kind=kind, rater_id=rater_id, replace=replace)
    _report(res, as_json)

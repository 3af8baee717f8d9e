"""`auditor panel create|list`: judge panels, virtual raters combining stored judges' verdicts."""

from __future__ import annotations

import typer

from ._common import CSV_OPT, JSON_OPT, emit, handle_errors, open_store, pd

app = typer.Typer(help="Judge panels: combine stored judges (mean, median or majority) into one rater to audit.",
                  no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="panel")


@app.command("create")
@handle_errors
def create(ctx: typer.Context,
           name: str = typer.Argument(..., help="The panel's rater id."),
           judges: str = typer.Option(..., "--judges", help="Member judges, comma-separated (stored LLM raters)."),
           rule: str = typer.Option("mean", "--rule", metavar="mean|median|majority",
                                    help="How member scores combine (majority: ties toward the median, then lower)."),
           rubric: str = typer.Option(None, "--rubric", help="Only this rubric (default: every rubric)."),
           as_json: bool = JSON_OPT):
    """Compute a panel from its members' stored verdicts and store it as a judge rater (run it again to refresh)."""
    from ..panel import create_panel
    from .ingest import _report

    with open_store(ctx) as store:
        res = create_panel(store, name, judges.split(","), rule, rubric=rubric)
    _report(res, as_json)


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, as_json: bool = JSON_OPT, as_csv: bool = CSV_OPT):
    """The panels in the store: members, rule, verdicts."""
    from ..errors import AuditorError
    from ..panel import panels

    with open_store(ctx, read_only=True) as store:
        ps = panels(store)
        counts = dict(store.con.execute("SELECT rater_id, count(*) FROM signals WHERE rater_id = ANY(?) GROUP BY 1",
                                        [list(ps)]).fetchall()) if ps else {}
    if not ps and not (as_json or as_csv):
        raise AuditorError("no panel in this store. Fix: `auditor panel create NAME --judges a,b,c --rule mean`.")
    df = pd.DataFrame([{"panel": k, "rule": v["rule"], "members": ", ".join(v["members"]),
                        "verdicts": counts.get(k, 0)} for k, v in ps.items()],
                      columns=["panel", "rule", "members", "verdicts"])
    emit(df, as_json=as_json, as_csv=as_csv, title="Judge panels")

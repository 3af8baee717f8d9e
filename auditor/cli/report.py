"""`auditor report` (HTML + Markdown + JSON agreement report) and `auditor compare` (leaderboard of LLM raters)."""

from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape

from ..errors import AuditorError
from ._common import (pd, CSV_OPT, JSON_OPT, console, emit, handle_errors, open_store, print_json, record_audit,
                      stored_or_computed)

# columns of the compare table (all columns, with intervals, are in --json / --csv)
TABLE_COLUMNS = ["rater", "kind", "design", "eval", "alpha", "kappa_w", "mean_bias", "leniency", "ece", "outcome_ece",
                 "alt_test_win", "n", "cost_per_1k", "seconds_per_1k"]
DIFF_TABLE = ["dimension", "statistic", "A", "B", "A - B", "95% CI", "n", "reading"]


FRESH_OPT = typer.Option(False, "--fresh", help="Recompute the audit even if one with the same options on the same "
                                                "data is stored.")


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
    app.command("compare")(compare_cmd)


def _options(*, design, llm, reference, rubric, dimension, bootstrap, seed, ci, difficulty):
    from ..audit import AuditOptions

    if ci not in ("percentile", "bca"):
        raise AuditorError(f"--ci {ci!r}: use percentile or bca")
    if bootstrap < 0:
        raise AuditorError(f"--bootstrap {bootstrap}: use 0 (no intervals) or a positive number of resamples")
    return AuditOptions(design=design, llm=llm or None, reference=reference, rubric=rubric,
                        dimensions=dimension or None, n_boot=bootstrap, seed=seed, ci_method=ci,
                        extra={"difficulty_file": difficulty} if difficulty else {})


DESIGN_OPT = typer.Option(None, "--design", help="paired | matched (default: from the data).")
LLM_OPT = typer.Option(None, "--llm", help="LLM rater(s) to include (default: every judge and simulator).")
REFERENCE_OPT = typer.Option(None, "--reference", help="Reference rater id (default: the human consensus).")
RUBRIC_OPT = typer.Option(None, "--rubric", help="Only this rubric.")
BOOTSTRAP_OPT = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples (0 = no intervals).")
SEED_OPT = typer.Option(0, "--seed", help="Random seed for the bootstrap.")
CI_OPT = typer.Option("percentile", "--ci", help="percentile | bca.")
DIFFICULTY_OPT = typer.Option(None, "--difficulty", help="Frozen task-difficulty map (JSON) for outcome "
                                                         "calibration in matched designs.")


@handle_errors
def report_cmd(ctx: typer.Context,
               out: str = typer.Option("reports/report.html", "--out",
                                       help="The HTML file to write; NAME.md and NAME.json go beside it."),
               title: str = typer.Option("Agreement report", "--title", help="Title shown at the top."),
               top: int = typer.Option(10, "--top", metavar="N",
                                       help="Largest disagreements listed per LLM rater (0 = none); "
                                            "conversations tied at the cut are counted in the report."),
               design: str = DESIGN_OPT, llm: list[str] = LLM_OPT, reference: str = REFERENCE_OPT,
               rubric: str = RUBRIC_OPT,
               dimension: list[str] = typer.Option(None, "--dimension", help="Only these dimension(s)."),
               bootstrap: int = BOOTSTRAP_OPT, seed: int = SEED_OPT, ci: str = CI_OPT,
               difficulty: str = DIFFICULTY_OPT, fresh: bool = FRESH_OPT,
               plan_halfwidth: float = typer.Option(None, "--plan-halfwidth", metavar="H",
                                                    help="Add a labelling budget: conversations to label per LLM "
                                                         "rater for alpha's 95 % interval to reach half-width H."),
               as_json: bool = JSON_OPT):
    """Write a self-contained HTML agreement report (plus NAME.md and NAME.json with the same numbers).

    It holds a verdict card per LLM rater, per-dimension agreement next to the human ceiling, the leaderboard,
    bias / distribution / confusion / calibration plots, the largest disagreements with conversation excerpts,
    and the data's provenance. No scripts and no network: open it anywhere, or attach it to a review.
    """
    from ..report import report_paths, write_report

    report_paths(out)                       # a wrong --out fails now, not after the audit
    if top < 0:
        raise AuditorError(f"--top {top}: use 0 or more conversations per rater")
    if plan_halfwidth is not None and not plan_halfwidth > 0:
        raise AuditorError(f"--plan-halfwidth {plan_halfwidth!r}: give a positive half-width, e.g. 0.05")
    opts = _options(design=design, llm=llm, reference=reference, rubric=rubric, dimension=dimension,
                    bootstrap=bootstrap, seed=seed, ci=ci, difficulty=difficulty)
    with open_store(ctx, read_only=True) as store:
        rows, pending = stored_or_computed(ctx, opts, fresh=fresh, command="report", store=store, quiet=as_json)
        paths = write_report(store, out, audit_rows=rows, options=opts, top=top, title=title,
                             difficulty_file=difficulty, plan_halfwidth=plan_halfwidth)
    record_audit(ctx, pending)
    if as_json:
        print_json({"report": paths, "stored_audit": pending.reused})
        return
    console.print(f"report: {escape(paths['html'])}", highlight=False)
    console.print(f"  also: {escape(paths['md'])}, {escape(paths['json'])}", highlight=False)


# dropped first when the terminal is too narrow for every column (the rest stay; --json / --csv have all)
_DROP_ORDER = ["design", "seconds_per_1k", "kind", "leniency", "alt_test_win", "kappa_w", "outcome_ece", "ece",
               "cost_per_1k", "mean_bias"]


def _print_table(df: pd.DataFrame, title: str, keep: str, drop_order: list[str] = _DROP_ORDER) -> None:
    """A rich table that fits the terminal: low-priority columns are left out (and named) rather than cropped."""
    from rich import box
    from rich.table import Table

    from ._common import _fmt

    cells = {c: [_fmt(v) for v in df[c]] for c in df.columns}
    need = {c: max([len(c)] + [len(v) for v in cells[c]]) + 2 for c in df.columns}
    cols = list(df.columns)
    hidden = []
    for c in drop_order:
        if sum(need[k] for k in cols) <= console.width:
            break
        if c in cols and c != keep:
            cols.remove(c)
            hidden.append(c)
    table = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for c in cols:
        table.add_column(c, justify="right" if pd.api.types.is_numeric_dtype(df[c]) else "left", overflow="fold",
                         min_width=min(need[c] - 2, 30) if c == cols[0] else None)
    for i in range(len(df)):
        table.add_row(*[escape(cells[c][i]) for c in cols])
    console.print(table)
    if hidden:
        console.print(f"[dim]not shown at this terminal width: {', '.join(hidden)} (see --json / --csv)[/]")


def _rounded(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(1 if c in ("eval", "seconds_per_1k") else 2 if c == "cost_per_1k" else 3) + 0.0
    return out


@handle_errors
def compare_cmd(ctx: typer.Context,
                sort: str = typer.Option(None, "--sort", help="Order by this column (best first: higher agreement, "
                                                              "lower error / cost / |bias|). Default: eval, else "
                                                              "alpha. Any column of --json / --csv."),
                reverse: bool = typer.Option(False, "--reverse", help="Flip the order of --sort."),
                vs: Optional[tuple[str, str]] = typer.Option(None, "--vs", metavar="A B",
                                                   help="Instead of the leaderboard: statistic(A) - statistic(B) on "
                                                        "the conversations both rated, with paired bootstrap "
                                                        "intervals (conversations resampled jointly)."),
                dimension: str = typer.Option("all", "--dimension",
                                              help="Leaderboard of one dimension (default all: pooled or mean "
                                                   "over dimensions); with --vs, only this dimension."),
                statistic: list[str] = typer.Option(None, "--statistic",
                                                    help="With --vs: paired statistics to compare (default "
                                                         "krippendorff_alpha, weighted_kappa_quadratic, spearman, "
                                                         "mae, mean_diff)."),
                design: str = DESIGN_OPT, llm: list[str] = LLM_OPT, reference: str = REFERENCE_OPT,
                rubric: str = RUBRIC_OPT, bootstrap: int = BOOTSTRAP_OPT, seed: int = SEED_OPT, ci: str = CI_OPT,
                difficulty: str = DIFFICULTY_OPT, fresh: bool = FRESH_OPT, as_json: bool = JSON_OPT,
                as_csv: bool = CSV_OPT):
    """Leaderboard of every LLM rater (judges and simulators): Eval, α, κw, bias, leniency, ECE, alt-test, cost.

    Sort by any column with --sort; compare two raters on the same conversations with --vs A B.
    """
    from ..report.compare import check_sort_column, leaderboard, paired_difference, sort_leaderboard

    if sort is not None:
        check_sort_column(sort)

    if vs is not None:
        a, b = vs
        if ci not in ("percentile", "bca"):
            raise AuditorError(f"--ci {ci!r}: use percentile or bca")
        with open_store(ctx, read_only=True) as store:
            df = paired_difference(store, a, b, rubric=rubric, reference=reference,
                                   dimensions=None if dimension == "all" else [dimension],
                                   statistics=statistic or None, n_boot=bootstrap, seed=seed, ci_method=ci)
        extra = {"a": a, "b": b, "bootstrap": bootstrap, "seed": seed, "ci": ci}
        if as_json or as_csv:
            emit(df, as_json=as_json, as_csv=as_csv, key="differences", extra=extra)
            return
        show = _rounded(df)
        show["95% CI"] = [f"[{lo:g}, {hi:g}]" if lo == lo and hi == hi else "" for lo, hi in
                          zip(show["ci_low"], show["ci_high"])]
        show = show.rename(columns={"a": "A", "b": "B", "diff": "A - B"})
        cols = (["rubric"] if df["rubric"].nunique() > 1 else []) + DIFF_TABLE
        _print_table(show[cols], f"A = {a}  vs  B = {b}: A - B on the conversations both rated ({bootstrap} paired "
                                 f"bootstrap resamples, seed {seed}; notes: --json)", "reading",
                     drop_order=["n", "B", "A"])
        return
    opts = _options(design=design, llm=llm, reference=reference, rubric=rubric, dimension=None,
                    bootstrap=bootstrap, seed=seed, ci=ci, difficulty=difficulty)
    with open_store(ctx, read_only=True) as store:
        rows, pending = stored_or_computed(ctx, opts, fresh=fresh, command="compare", store=store,
                                           quiet=as_json or as_csv)
        if dimension != "all" and not (rows["dimension"] == dimension).any():
            dims = sorted({str(d) for d in rows["dimension"].dropna()} - {"all"})
            raise AuditorError(f"--dimension {dimension!r}: no audit row is about it. Fix: use all or one of "
                               f"{', '.join(dims) or '(no dimension has ratings)'}.")
        board = leaderboard(store, rows, dimension=dimension)
    record_audit(ctx, pending)
    if board.empty or not (board["kind"] != "human").any():
        raise AuditorError("no LLM rater to compare: the store holds human ratings only (`auditor audit` shows their "
                           "agreement). Fix: ingest LLM signals (--rater-kind judge|simulator) or run "
                           "`auditor judge run CONFIG`.")
    board = sort_leaderboard(board, sort, reverse=reverse)
    extra = {"sort": sort or ("eval" if board["eval"].notna().any() else "alpha"), "dimension": dimension,
             "bootstrap": bootstrap, "seed": seed, "ci": ci, "stored_audit": pending.reused}
    if as_json or as_csv:
        emit(board, as_json=as_json, as_csv=as_csv, key="leaderboard", extra=extra)
        return
    cols = [c for c in TABLE_COLUMNS if c in ("rater", "kind", "n") or board[c].notna().any()]
    if board["rubric"].nunique() > 1:
        cols.insert(2, "rubric")
    title = (f"LLM raters{'' if dimension == 'all' else ' on ' + dimension}, sorted by {extra['sort']}"
             f"{' (reversed)' if reverse else ''}; intervals and sources: --json / --csv")
    _print_table(_rounded(board[cols]), title, extra["sort"])
    for r in board.itertuples():
        if isinstance(r.model, str) and r.model.startswith("panel: "):
            console.print(f"[dim]{escape(str(r.rater))} is a {escape(r.model)}[/]", highlight=False)
    if dimension == "all" and any(str(s).startswith("mean over") for s in board.filter(like="_source").stack()):
        console.print("[dim]alpha, kappa_w, mean_bias, leniency, ece, alt_test_win: pooled over dimensions "
                      "rescaled to [0, 1] where the audit computed that, else the mean over dimensions "
                      "(see *_source in --json).[/]")

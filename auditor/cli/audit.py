"""`auditor audit`: agreement, bias and the human ceiling with bootstrap intervals; a CI gate."""

from __future__ import annotations

import json
import math
import sys

import typer

from ..errors import AuditorError
from ._common import (CSV_OPT, JSON_OPT, console, emit, err_console, handle_errors, open_store, pd, record_audit,
                      records, stored_or_computed)

SYSTEM_HEADLINE = ["system_kendall_tau_b", "system_spearman", "system_pairwise_agreement", "system_reversed_pairs",
                   "system_top1_agreement", "system_top1_probability"]
HEADLINE = ["krippendorff_alpha", "weighted_kappa_quadratic", "spearman", "mae", "mean_diff", "leniency_rate",
            "eval_score", "outcome_ece"]


def register(app: typer.Typer) -> None:
    group = typer.Typer(invoke_without_command=True, no_args_is_help=False,
                        help="Audit every LLM rater against humans (`auditor audit history`: past audits).")
    group.callback()(audit_cmd)
    group.command("history")(history_cmd)
    app.add_typer(group, name="audit")


def _parse_gates(items: list[str] | None, flag: str) -> list[tuple[str, float]]:
    gates = []
    for it in items or []:
        if "=" not in it:
            raise AuditorError(f"{flag} {it!r}: expected STATISTIC=VALUE, e.g. {flag} krippendorff_alpha=0.667")
        k, v = it.split("=", 1)
        try:
            gates.append((k.strip(), float(v)))
        except ValueError:
            raise AuditorError(f"{flag} {it!r}: {v!r} is not a number") from None
    return gates


def gate_failures(df: pd.DataFrame, under: list[tuple[str, float]], over: list[tuple[str, float]]) -> list[str]:
    """Messages for every audited LLM rater row below an --fail-under (or above a --fail-over) threshold.

    A statistic that is undefined (NaN) for a rater fails the gate: an audit that cannot say is not a pass.
    """
    llm = df[~df["rater"].isin(["human_loo", "humans"])]
    out = []
    for (stat, thr), sign in [(g, -1) for g in under] + [(g, 1) for g in over]:
        rows = llm[llm["statistic"] == stat]
        if rows.empty:
            out.append(f"{stat}: not computed for any audited rater (check the name and the dimensions' levels)")
            continue
        for r in rows.itertuples():
            v = r.value
            bad = v is None or (isinstance(v, float) and math.isnan(v)) or (v < thr if sign < 0 else v > thr)
            if bad:
                shown = "undefined" if v is None or v != v else f"{v:.4g}"
                out.append(f"{r.rater} / {r.dimension}: {stat} = {shown} {'<' if sign < 0 else '>'} {thr:g}")
    return out


def _cell(r) -> str:
    """'value [ci_low, ci_high]' of one audit row (``n/a`` when undefined)."""
    if r.value is None or (isinstance(r.value, float) and math.isnan(r.value)):
        return "n/a"
    s = f"{r.value:.3f}"
    if isinstance(r.ci_low, float) and not math.isnan(r.ci_low):
        s += f" [{r.ci_low:.2f}, {r.ci_high:.2f}]"
    return s


def long_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per audit row: rater, (design,) dimension, statistic, 'value [ci_low, ci_high]', n."""
    out = df[["rater", "design", "dimension", "statistic"]].copy()
    out["value [95% CI]"] = [_cell(r) for r in df.itertuples()]
    out["n"] = df["n"].astype("Int64")
    undefined = [c == "n/a" for c in out["value [95% CI]"]]
    if any(undefined):
        out["why n/a"] = [str(nt)[:90] if u else "" for u, nt in zip(undefined, df["note"])]
    return out if out["design"].nunique() > 1 else out.drop(columns="design")


def headline_table(df: pd.DataFrame, stats: list[str] = HEADLINE, n_from: str | None = None) -> pd.DataFrame:
    """One row per (rater, dimension); cells 'value [ci_low, ci_high]'; ``n`` is the largest n of the row's
    statistics, or that of ``n_from``."""
    d = df[df["statistic"].isin(stats)].copy()
    if d.empty:
        return pd.DataFrame()

    d["cell"] = [_cell(r) for r in d.itertuples()]
    n = (d[d["statistic"] == n_from] if n_from else d).groupby(["rater", "dimension"], sort=False)["n"].max()
    t = d.pivot_table(index=["rater", "dimension"], columns="statistic", values="cell", aggfunc="first",
                      sort=False)
    t = t[[s for s in stats if s in t.columns]]
    t.insert(0, "n", n.reindex(t.index).astype("Int64"))
    return t.reset_index()


@handle_errors
def audit_cmd(ctx: typer.Context,
              design: str = typer.Option(None, "--design", help="paired | matched (default: from the data)."),
              llm: list[str] = typer.Option(None, "--llm", help="LLM rater(s) to audit (default: all judges and "
                                                                "simulators)."),
              reference: str = typer.Option(None, "--reference", help="Reference rater id (default: the human "
                                                                     "consensus)."),
              rubric: str = typer.Option(None, "--rubric", help="Only this rubric."),
              dimension: list[str] = typer.Option(None, "--dimension", help="Only these dimension(s)."),
              statistic: list[str] = typer.Option(None, "--statistic", help="Only these statistic(s)."),
              bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples (0 = no intervals)."),
              seed: int = typer.Option(0, "--seed", help="Random seed for the bootstrap."),
              ci: str = typer.Option("percentile", "--ci", help="percentile | bca."),
              threads: int = typer.Option(None, "--threads", min=1,
                                          help="Dimensions audited at once (default: min(2, CPUs)); results do "
                                               "not depend on it."),
              difficulty: str = typer.Option(None, "--difficulty",
                                             help="Task-difficulty JSON for outcome ECE (default: pooled from the "
                                                  "store's simulator runs)."),
              alt_test_epsilon: float = typer.Option(0.15, "--alt-test-epsilon",
                                                     help="Margin epsilon of the alternative annotator test."),
              level: str = typer.Option("all", "--level", metavar="conversation|system|all",
                                        help="conversation rows, system rows (does the LLM rank the systems under "
                                             "test as people do; needs conversations with a system_id), or all."),
              failed: str = typer.Option("drop", "--failed", metavar="drop|wrong",
                                         help="Failed LLM verdicts (status failed): drop = left out, counted in "
                                              "the note; wrong = disagreements in exact agreement and kappa."),
              campaign: str = typer.Option(None, "--campaign",
                                           help="Only this annotation campaign's items and annotators (with every "
                                                "LLM rater on them)."),
              fail_under: list[str] = typer.Option(None, "--fail-under",
                                                   help="STAT=VALUE: exit 1 if an audited rater is below."),
              fail_over: list[str] = typer.Option(None, "--fail-over",
                                                  help="STAT=VALUE: exit 1 if an audited rater is above (errors)."),
              as_json: bool = JSON_OPT, as_csv: bool = CSV_OPT):
    """Audit every LLM rater against humans: agreement, bias, ceiling, per dimension and overall.

    Every audit is recorded in the store (`auditor audit history`); `report` and `compare` reuse it."""
    if ctx.invoked_subcommand:
        return
    from ..audit import AuditOptions

    if ci not in ("percentile", "bca"):
        raise AuditorError(f"--ci {ci!r}: use percentile or bca")
    if failed not in ("drop", "wrong"):
        raise AuditorError(f"--failed {failed!r}: use drop or wrong")
    if level not in ("conversation", "system", "all"):
        raise AuditorError(f"--level {level!r}: use conversation, system or all")
    under, over = _parse_gates(fail_under, "--fail-under"), _parse_gates(fail_over, "--fail-over")
    if under or over:
        from ..audit._run import known_statistics

        known = known_statistics()
        for stat, _ in under + over:
            if stat not in known:
                raise AuditorError(f"gate statistic {stat!r} is not one the audit reports. Fix: use one of "
                                   f"{', '.join(known)} (e.g. --fail-under krippendorff_alpha=0.667).")
    opts = AuditOptions(design=design, llm=llm or None, reference=reference, rubric=rubric,
                        dimensions=dimension or None, statistics=statistic or None, n_boot=bootstrap, seed=seed,
                        ci_method=ci, threads=threads, failed=failed, level=level,
                        extra={"alt_test_epsilon": alt_test_epsilon,
                               **({"difficulty_file": difficulty} if difficulty else {})})
    pending = None
    with open_store(ctx, read_only=True) as store:
        if campaign:
            from ..campaign import campaign_audit

            df = campaign_audit(store, campaign, opts)
            if df.empty:
                raise AuditorError(f"campaign {campaign!r} has nothing to audit yet: it needs answers from two "
                                   "annotators on the same items, or an LLM rater on answered items. Fix: wait for "
                                   "more answers (`auditor annotate show " + campaign + "` shows progress).")
        else:
            df, pending = stored_or_computed(ctx, opts, fresh=True, command="audit", store=store)
    if statistic and df.empty and not (as_json or as_csv):
        raise AuditorError(f"the audit has no row for --statistic {', '.join(statistic)} on these data (it does "
                           "not apply to their levels or design, or no rater rated them). Fix: drop --statistic to "
                           "see every row, or check `auditor audit --json` for the names.")
    if level == "system" and not (df["design"] == "system").any():
        raise AuditorError("no system-level rows: no rated conversation has a system_id. Fix: load "
                           "conversations with a system_id column (`auditor ingest conversations`, or "
                           "`auditor ingest tau-bench --system AGENT`).")
    record_audit(ctx, pending)
    if as_json:
        sys.stdout.write(json.dumps({"rows": records(df), "bootstrap": bootstrap, "seed": seed, "ci": ci},
                                    default=str) + "\n")
    elif as_csv:
        sys.stdout.write(df.to_csv(index=False))
    elif statistic:
        emit(long_table(df), as_json=False, as_csv=False,
             title=f"Audit ({bootstrap} bootstrap resamples, seed {seed}; notes: --json)")
    else:
        title = f"Audit ({bootstrap} bootstrap resamples, seed {seed}; all rows: --json)"
        if level != "system":
            emit(headline_table(df[df["design"] != "system"]), as_json=False, as_csv=False, title=title)
        systems = df[df["design"] == "system"]
        if not systems.empty:
            emit(headline_table(systems, SYSTEM_HEADLINE, n_from="system_kendall_tau_b"), as_json=False,
                 as_csv=False, title="System level (n = systems): does the LLM rank them as the humans do?" + (
                     f" {title[6:]}" if level == "system" else ""))
        if not df.empty and df["rater"].isin(["human_loo", "humans"]).all():
            err_console.print("note: no LLM rater in the store, so these rows are the humans' own agreement (the "
                              "ceiling). Fix: ingest LLM signals (--rater-kind judge|simulator) or run `auditor judge "
                              "run CONFIG`.", highlight=False, markup=False, soft_wrap=True)
    failures = gate_failures(df, under, over)
    if failures:
        for f in failures:
            err_console.print(f"[bold red]gate failed:[/] {f}", highlight=False)
        raise typer.Exit(1)


def demo_audit(store, *, bootstrap: int, seed: int, out: str, dataset: str = "all") -> None:
    """The end of `auditor demo`: audit the bundled judges and write the report."""
    from ..audit import AuditOptions, audit

    df = audit(store, AuditOptions(n_boot=bootstrap, seed=seed))
    if dataset in ("llm-rubric", "all"):
        _demo_llm_rubric(df[df["rubric"] == "llm_rubric"])
    if dataset in ("hanna", "all"):
        _demo_hanna(df[df["rubric"] == "hanna"])
    console.print("Every dimension and statistic: auditor audit --json")
    try:
        from ..report import write_report
    except ImportError:
        return
    paths = write_report(store, out, audit_rows=df, n_boot=bootstrap, seed=seed)
    console.print(f"report: {paths['html']}")


def _demo_hanna(df) -> None:
    conv = df[(df["design"] != "system") & (df["dimension"] == "all")]
    emit(headline_table(conv, ["krippendorff_alpha", "pearson", "mean_diff", "leniency_rate"]), as_json=False,
         as_csv=False, title="HANNA: five LLM judges vs three people per story (all six criteria rescaled to [0, 1] "
                             "and pooled)")
    sys_rows = df[(df["design"] == "system") & (df["dimension"] == "coherence")]
    emit(headline_table(sys_rows, SYSTEM_HEADLINE[:4], n_from="system_kendall_tau_b"), as_json=False,
         as_csv=False, title="HANNA, coherence: do the judges rank the 11 story generators as people do? (n = systems)")


def _demo_llm_rubric(df) -> None:
    q0 = df[(df["design"] != "system") & df["dimension"].isin(["Q0", "all"])]
    ceiling = q0[q0["rater"].isin(["human_loo", "humans"])]
    if ceiling["value"].isna().all():
        q0 = q0[~q0["rater"].isin(["human_loo", "humans"])]
    emit(headline_table(q0, ["krippendorff_alpha", "spearman", "rmse", "mean_diff", "leniency_rate"]),
         as_json=False, as_csv=False, title="GPT-3.5 as a judge vs the human judgments (Q0 = overall satisfaction; "
                                            "all = every question rescaled to [0, 1] and pooled)")
    if ceiling["value"].isna().all():
        console.print("No human ceiling in LLM-Rubric: every conversation has a single human judgment.")


@handle_errors
def history_cmd(ctx: typer.Context,
                rater: list[str] = typer.Option(None, "--rater", help="Only these rater(s)."),
                statistic: list[str] = typer.Option(None, "--statistic", help="Only these statistic(s)."),
                dimension: list[str] = typer.Option(None, "--dimension", help="Only these dimension(s)."),
                as_json: bool = JSON_OPT, as_csv: bool = CSV_OPT):
    """Past audits stored here, newest first: each rater's values with intervals and judge config over time."""
    from ..audit import audit_history
    from ..audit._run import check_statistic_names

    check_statistic_names(statistic or [])
    with open_store(ctx, read_only=True) as store:
        df = audit_history(store, rater=rater or None, statistic=statistic or None, dimension=dimension or None)
    if df.empty and not (as_json or as_csv):
        raise AuditorError("no stored audit matches. Fix: run `auditor audit` (every run is recorded), or widen "
                           "--rater / --statistic / --dimension.")
    emit(df, as_json=as_json, as_csv=as_csv, title="Stored audits (newest first)")

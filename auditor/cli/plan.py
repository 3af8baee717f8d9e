"""`auditor plan`: how many conversations to label, from pilot data in the store."""

from __future__ import annotations

import json
import sys

import typer

from ._common import JSON_OPT, console, emit, handle_errors, open_store, records


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)


@handle_errors
def plan_cmd(ctx: typer.Context,
             rater: str = typer.Option(None, "--rater", help="The LLM rater to plan for (default: the only one)."),
             rubric: str = typer.Option(None, "--rubric", help="Its rubric (default: the only one it rated)."),
             dimension: str = typer.Option(None, "--dimension", help="The dimension (default: the rubric's first)."),
             statistic: list[str] = typer.Option(None, "--statistic",
                                                 help="krippendorff_alpha | mean_diff | pearson | mae | "
                                                      "exact_agreement (repeatable; default alpha and mean_diff)."),
             target: float = typer.Option(0.05, "--target-halfwidth",
                                          help="Half-width of the 95 % interval you want."),
             sizes: str = typer.Option(None, "--sizes", metavar="N,N,...",
                                       help="Study sizes to simulate (default: 1/4 to 4 times the pilot)."),
             reps: int = typer.Option(20, "--reps", min=2, help="Simulated studies per size."),
             bootstrap: int = typer.Option(200, "--bootstrap", min=20, help="Bootstrap resamples per study."),
             epsilon: float = typer.Option(0.15, "--alt-test-epsilon", help="The alt-test's margin."),
             alt_test: bool = typer.Option(True, "--alt-test/--no-alt-test", help="Simulate the alt-test's power."),
             assume_alpha: float = typer.Option(None, "--assume-alpha",
                                                help="No pilot yet: plan from this expected alpha between the LLM "
                                                     "and the humans (no store needed)."),
             assume_levels: int = typer.Option(5, "--assume-levels", help="With --assume-alpha: options on the "
                                                                          "ordinal scale."),
             assume_annotators: int = typer.Option(1, "--assume-annotators",
                                                   help="With --assume-alpha: humans per conversation."),
             seed: int = typer.Option(0, "--seed", help="Random seed."),
             as_json: bool = JSON_OPT):
    """How many conversations should people rate? Resamples the pilot's labelled conversations at growing sizes."""
    from ..errors import AuditorError
    from ..plan import PlanOptions, plan

    try:
        size_list = [int(s) for s in sizes.split(",")] if sizes else None
    except ValueError:
        raise AuditorError(f"--sizes {sizes!r}: give whole numbers separated by commas, e.g. 100,200,400") from None
    if size_list and min(size_list) < 2:
        raise AuditorError(f"--sizes {sizes!r}: every size needs at least 2 conversations")
    opts = PlanOptions(rater=rater, rubric=rubric, dimension=dimension,
                       statistics=statistic or ["krippendorff_alpha", "mean_diff"], target=target, sizes=size_list,
                       reps=reps, n_boot=bootstrap, seed=seed, alt_test=alt_test, epsilon=epsilon,
                       assume_alpha=assume_alpha, assume_levels=assume_levels, assume_annotators=assume_annotators)
    if assume_alpha is not None:
        res = plan(None, opts)
    else:
        with open_store(ctx, read_only=True) as store:
            res = plan(store, opts)
    if as_json:
        out = {k: records(v) if hasattr(v, "to_dict") else v for k, v in res.items()}
        sys.stdout.write(json.dumps(out, default=str) + "\n")
        return
    p = res["pilot"]
    if assume_alpha is not None:
        console.print(p["note"], highlight=False, markup=False)
    console.print(f"pilot: {p['n']} conversations rated by {p['rater']} and people ({p['humans_per_conversation']:.1f}"
                  f" humans each) on {p['rubric']} / {p['dimension']} ({p['level']})", highlight=False, markup=False)
    emit(res["recommended"][["statistic", "target", "recommended_n", "check_halfwidth"]], as_json=False,
         as_csv=False, title=f"Conversations to label for a 95 % interval of half-width {target:g}")
    emit(res["curve"], as_json=False, as_csv=False, title=f"Half-width by study size ({reps} simulated studies each)")
    if not res["alt_test"].empty:
        emit(res["alt_test"], as_json=False, as_csv=False,
             title=f"Alt-test power: share of simulated studies in which it passes (epsilon {epsilon:g})")
    if not res["ceiling"].empty:
        emit(res["ceiling"], as_json=False, as_csv=False,
             title=f"The human ceiling: conversations to label per annotators each (alpha among them, half-width "
                   f"{target:g})")
    if res["alt_test_note"]:
        console.print(res["alt_test_note"], highlight=False, markup=False)
    console.print(f"PPI++: {res['ppi']['note']}", highlight=False, markup=False)
    console.print(p["note"], style="dim", highlight=False, markup=False)

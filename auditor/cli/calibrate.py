"""`auditor calibrate RATER` / `auditor calibrate apply MODEL.json`: calibrated judges, audited honestly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from ._common import JSON_OPT, _clean, console, emit, handle_errors, open_store, pd, records


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate_cmd)


@handle_errors
def calibrate_cmd(
        ctx: typer.Context,
        rater: str = typer.Argument(..., metavar="RATER|apply",
                                    help="The LLM judge to calibrate; or `apply` followed by a saved model file."),
        model_file: str = typer.Argument(None, metavar="[MODEL.json]", help="With `apply`: the model to apply."),
        rubric: str = typer.Option(None, "--rubric", help="The rubric (default: the only one the rater answered)."),
        target: list[str] = typer.Option(None, "--target", metavar="DIMENSION|all",
                                         help="Dimension to calibrate (repeatable; default all)."),
        method: str = typer.Option("auto", "--method", metavar="auto|ordinal|multinomial|ridge|isotonic",
                                   help="auto: ordinal for ordinal/binary dimensions, multinomial for nominal, "
                                        "ridge for interval/ratio. isotonic maps the judge's own score only."),
        folds: int = typer.Option(5, "--folds", help="Cross-fitting folds (grouped by conversation)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the fold assignment."),
        annotator_terms: bool = typer.Option(True, "--annotator-terms/--consensus",
                                             help="Learn each human's own use of the scale (LLM-Rubric's "
                                                  "judge-specific terms) and imitate the human who rated each "
                                                  "conversation; --consensus predicts the humans' common answer."),
        name: str = typer.Option(None, "--name", help="The calibrated rater's id (default RATER:calibrated)."),
        fit_all: bool = typer.Option(False, "--fit-all", help="Also fit one model on all labelled conversations "
                                                               "(for new conversations; needs --save)."),
        save: Path = typer.Option(None, "--save", metavar="MODEL.json", help="Write the --fit-all model here."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Fit and report; store nothing."),
        include_training: bool = typer.Option(False, "--include-training",
                                              help="With apply: also score the model's training conversations "
                                                   "(in-sample: their audit rows are flagged as optimistic)."),
        as_json: bool = JSON_OPT):
    """Fit, cross-fitted, a map from a judge's outputs to the humans' answers and store it as RATER:calibrated.

    Every stored value comes from a model that never saw that conversation's human answers (K folds grouped by
    conversation), so `auditor audit --llm RATER:calibrated` is an honest estimate of the calibrated judge."""
    from ..errors import AuditorError

    if rater == "apply":
        if not model_file:
            raise AuditorError("calibrate apply: give the model file. Fix: `auditor calibrate apply MODEL.json` "
                               "(written by `auditor calibrate RATER --fit-all --save MODEL.json`).")
        return _apply(ctx, model_file, name, include_training, dry_run, as_json)
    if model_file:
        raise AuditorError(f"unexpected argument {model_file!r}: `auditor calibrate RATER` takes one rater. Fix: "
                           "drop it (or `auditor calibrate apply MODEL.json` to apply a saved model).")
    if include_training:
        raise AuditorError("--include-training applies to `calibrate apply` only.")
    if fit_all != (save is not None):
        raise AuditorError("--fit-all and --save go together: `--fit-all --save MODEL.json` writes the model fitted "
                           "on every labelled conversation.")
    if save is not None and save.exists() and save.is_dir():
        raise AuditorError(f"--save {save}: is a directory. Fix: give a file name, e.g. {save / 'model.json'}.")
    from ..calibrate import CalibrateOptions, calibrate

    targets = None if not target or "all" in target else list(dict.fromkeys(target))
    opts = CalibrateOptions(rater=rater, rubric=rubric, targets=targets, method=method, folds=folds, seed=seed,
                            annotator_terms=annotator_terms, name=name, fit_all=fit_all, write=not dry_run)
    with open_store(ctx, read_only=dry_run) as store:
        res = calibrate(store, opts)
    if save is not None:
        try:
            save.write_text(json.dumps(res.model) + "\n")
        except OSError as e:
            raise AuditorError(f"--save {save}: {e.strerror}. Fix: give a writable path.") from None
    rows = pd.DataFrame([{
        "dimension": t["dimension"], "method": t["method"], "n": t["n_rows"],
        "rmse": t["calibrated"]["rmse"], "pearson": t["calibrated"]["pearson"],
        "spearman": t["calibrated"]["spearman"], "kendall": t["calibrated"]["kendall"],
        "raw_rmse": t["raw"]["rmse"], "raw_pearson": t["raw"]["pearson"], "mean_rmse": t["training_mean"]["rmse"],
    } for t in res.targets])
    stored = res.load.n_inserted + res.load.n_replaced if res.load is not None else 0
    if as_json:
        sys.stdout.write(json.dumps(_plain({"name": res.name, "rater": res.rater, "rubric": res.rubric,
                                            "targets": res.targets, "notes": res.notes, "stored": not dry_run,
                                            "batch_id": getattr(res.load, "batch_id", None),
                                            "model_file": str(save) if save else None})) + "\n")
        return
    emit(rows, as_json=False, as_csv=False,
         title=f"{res.rater} calibrated on {res.rubric}: out-of-fold against the humans ({folds} folds, seed {seed}; "
               "raw = the judge's own score; mean = predicting the training mean)")
    for n in res.notes:
        console.print(f"note: {n}", highlight=False, markup=False)
    if dry_run:
        console.print("dry run: nothing stored", highlight=False, markup=False)
    else:
        what = f"{stored} signals written" if stored else "unchanged (same values already stored)"
        console.print(f"stored as rater {res.name}: {what}. Audit it: auditor audit --llm {res.name}",
                      highlight=False, markup=False)
    if save is not None:
        console.print(f"model fitted on all labelled conversations written to {save} (auditor calibrate apply "
                      f"{save})", highlight=False, markup=False)


def _plain(v):
    """JSON-able: NaN and infinities as null, numpy scalars as Python numbers, recursively."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return _clean(v)


def _apply(ctx, model_file: str, name, include_training: bool, dry_run: bool, as_json: bool):
    from ..calibrate import apply_model
    from ..calibrate._apply import read_model
    from ..errors import AuditorError

    path = Path(model_file)
    if not path.is_file():
        raise AuditorError(f"{model_file}: no such file. Fix: pass the file written by `auditor calibrate RATER "
                           "--fit-all --save MODEL.json`.")
    model = read_model(path.read_text(encoding="utf-8", errors="replace"), str(path))
    with open_store(ctx, read_only=dry_run) as store:
        res = apply_model(store, model, source=str(path), name=name, include_training=include_training,
                          write=not dry_run)
    df = pd.DataFrame(res.targets, columns=["dimension", "method", "n_scored", "n_skipped_training", "n_in_sample",
                                            "n_unscorable"])
    if as_json:
        sys.stdout.write(json.dumps({"name": res.name, "rater": res.rater, "rubric": res.rubric,
                                     "targets": records(df), "stored": not dry_run}) + "\n")
        return
    emit(df, as_json=False, as_csv=False, title=f"{path} applied to {res.rater}'s conversations as {res.name}")
    if not df["n_scored"].sum():
        console.print("no conversation to score: every conversation the judge rated was in the model's training "
                      "set (their cross-fitted values are stored by `auditor calibrate`)", highlight=False,
                      markup=False)
    if df["n_in_sample"].sum():
        console.print(f"warning: {int(df['n_in_sample'].sum())} values are in-sample fits; their audit rows say so",
                      highlight=False, markup=False)

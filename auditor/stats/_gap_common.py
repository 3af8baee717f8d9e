"""The evaluative-gap statistics' constants and shared helpers (:mod:`auditor.stats.gap` is the public module)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ._bootstrap import bootstrap_sums
from ._result import StatRow


CUT_POINTS = (0.2, 0.4, 0.6, 0.8)
MIN_POOLED_RUNS = 10
# a dimension with more distinct values than this is not histogrammed (Wasserstein, JS divergence, leniency)
MAX_CATEGORIES = 1000
MATCHED_STATISTICS = ("mean_diff", "wasserstein", "js_divergence", "leniency_rate", "severity_rate",
                      "variance_ratio")
NOT_NOMINAL = ("binary", "ordinal", "interval", "ratio")
ORDERED = ("ordinal", "interval", "ratio")
_LEVELS_OF = {"mean_diff": NOT_NOMINAL, "wasserstein": ORDERED, "leniency_rate": NOT_NOMINAL,
              "severity_rate": NOT_NOMINAL, "variance_ratio": ORDERED,
              "js_divergence": ("binary", "nominal", "ordinal", "interval", "ratio")}


_DISTANCE_CAVEAT = "; a distance is biased upward under resampling, so its CI can sit above the estimate"


def matched_statistics_for(level: str) -> list[str]:
    """The per-dimension matched statistics defined at a level of measurement."""
    return [s for s in MATCHED_STATISTICS if level in _LEVELS_OF[s]]


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------

def _mean_std(per: np.ndarray) -> np.ndarray:
    """(m, G) -> (m, 2): mean and population std over the defined (non-NaN) columns; NaN where none is."""
    per = np.atleast_2d(per)
    ok = ~np.isnan(per)
    k = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, per, 0.0).sum(axis=1) / k
        var = np.where(ok, (per - mean[:, None]) ** 2, 0.0).sum(axis=1) / k
    return np.column_stack([mean, np.sqrt(var)])


def _nanmean_axis(x: np.ndarray, axis: int) -> np.ndarray:
    ok = ~np.isnan(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, x, 0.0).sum(axis=axis) / ok.sum(axis=axis)


def _fmt(v: float, digits: int = 4) -> str:
    return "undefined" if v is None or np.isnan(v) else f"{v:.{digits}g}"


def _per_group_note(values: np.ndarray, labels: Sequence[str], what: str) -> str:
    parts = [f"{lab}: {_fmt(v)}" for lab, v in zip(labels, values)]
    return f"per {what}: " + ", ".join(parts)


def _boot(contrib: np.ndarray, finalize: Callable, n_boot: int, seed, ci_method: str, confidence: float):
    return bootstrap_sums(contrib, finalize, n_boot=n_boot, seed=seed, method=ci_method, confidence=confidence)


def _ci_note(n_boot: int, ci_method: str, unit: str) -> str:
    return f"{ci_method} CI, {n_boot} bootstrap resamples over {unit}s" if n_boot > 0 else "no CI (bootstrap off)"


def _std_txt(res, k: int) -> str:
    return _fmt(res.value[1]) if k >= 2 else "undefined (one group)"


def _std_row(name: str, res, k: int, note: str) -> StatRow:
    """The companion row of a mean over groups: the population std over the k groups (NaN when k < 2)."""
    if k < 2:
        return StatRow(name, np.nan, n=k, note=f"undefined: {k} group(s), so no spread over groups; " + note)
    return StatRow(name, float(res.value[1]), float(res.ci_low[1]), float(res.ci_high[1]), k, note)


def _labels(groups, n: int, prefix: str) -> list[str]:
    return [str(g) for g in groups] if groups is not None else [f"{prefix}{i + 1}" for i in range(n)]


def difficulty_bins(difficulty, cut_points: Sequence[float] = CUT_POINTS) -> np.ndarray:
    """Bin index of each difficulty: the first bin whose cut point the value is below, else the last.

    NaN (no difficulty) gives -1. With the study's cut points 0.2/0.4/0.6/0.8: 0.1 -> 0, 0.2 -> 1, 1.0 -> 4.
    """
    d = np.asarray(difficulty, dtype=float)
    b = np.searchsorted(np.asarray(cut_points, dtype=float), d, side="right")
    return np.where(np.isnan(d), -1, b).astype(np.int64)


def pooled_difficulty(task, success, *, min_runs: int = MIN_POOLED_RUNS) -> dict:
    """Task difficulty = success rate pooled over every simulator run of the task (tasks with >= ``min_runs``).

    ``task`` and ``success`` (0/1) have one element per run. Returns {task: rate}.
    """
    df = pd.DataFrame({"task": np.asarray(task), "s": np.asarray(success, dtype=float)}).dropna()
    g = df.groupby("task")["s"].agg(["mean", "size"])
    g = g[g["size"] >= min_runs]
    return {k: float(v) for k, v in g["mean"].items()}

def _pairs_of(B: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(B) for j in range(i + 1, B)]

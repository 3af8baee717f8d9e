"""The convention many papers report for inter-annotator agreement: the mean over rater pairs of Cohen's kappa and
of percent agreement, each pair on the items both rated.

- ``pairwise_cohen_kappa``: Cohen's (unweighted) kappa of every pair of raters on their shared items, averaged over
  pairs weighted by the number of shared items (a pair that shares 200 items counts 20 times one that shares 10).
- ``pairwise_agreement``: the share of shared items on which the two raters give the same category, averaged the same
  way.

Nominal categories (binary, nominal and ordinal dimensions; ordinal categories are compared as labels, as Cohen's
kappa does). Items rated by one rater only are left out; pairs with no shared item do not count. The interval is a
percentile bootstrap over items (every pair's table recomputed from the same resampled items).
"""

from __future__ import annotations

import numpy as np

from ._arrays import unique_inverse, unique_rows
from ._bootstrap import bootstrap_sums
from ._result import StatRow

__all__ = ["pairwise_rater_statistics", "PAIRWISE_STATISTICS"]

PAIRWISE_STATISTICS = ["pairwise_cohen_kappa", "pairwise_agreement"]


def _kappa_and_agreement(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cohen's kappa and observed agreement of (..., K, K) contingency tables."""
    n = T.sum(axis=(-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        po = np.trace(T, axis1=-2, axis2=-1) / n
        pe = (T.sum(axis=-1) * T.sum(axis=-2)).sum(axis=-1) / n**2
        kappa = np.where(pe < 1, (po - pe) / (1 - pe), np.nan)
    return kappa, po


def pairwise_rater_statistics(units: np.ndarray, raters: np.ndarray, values: np.ndarray, *, level: str,
                              n_boot: int = 1000, seed: int = 0, ci_method: str = "percentile",
                              statistics: list[str] | None = None) -> list[StatRow]:
    """One rating per (unit, rater) expected (a rater's repeated ratings of a unit: the first is used).

    Items are grouped into types (their row of categories over all raters), so the bootstrap is a multinomial over
    types (:func:`auditor.stats._bootstrap.bootstrap_sums`): exact, and its cost does not grow with the items."""
    want = [s for s in PAIRWISE_STATISTICS if statistics is None or s in statistics]
    if not want or level not in ("binary", "nominal", "ordinal"):
        return []
    units, raters, values = np.asarray(units), np.asarray(raters), np.asarray(values, dtype=float)
    _, ucode = unique_inverse(units)
    rid, rcode = unique_inverse(raters)
    cats, ccode = unique_inverse(values)
    K, R, U = cats.size, rid.size, int(ucode.max(initial=-1)) + 1
    M = np.full((U, R), -1, dtype=np.int64)
    M[ucode[::-1], rcode[::-1]] = ccode[::-1]              # the first rating of a (unit, rater) wins
    M = M[(M >= 0).sum(axis=1) >= 2]                       # items some pair shares: the bootstrap's units
    pairs = [(a, b) for a in range(R) for b in range(a + 1, R)]
    if M.shape[0] == 0:
        return [StatRow(s, float("nan"), note="undefined: no two raters rated the same item") for s in want]
    types, counts = unique_rows(M)
    keep = [p for p, (a, b) in enumerate(pairs) if np.any(counts[(types[:, a] >= 0) & (types[:, b] >= 0)])]
    P = len(keep)
    # per type: a one-hot of its cell in each kept pair's K x K table (all zero where the pair does not share it)
    C = np.zeros((types.shape[0], P * K * K))
    for j, p in enumerate(keep):
        a, b = pairs[p]
        both = (types[:, a] >= 0) & (types[:, b] >= 0)
        C[np.flatnonzero(both), j * K * K + types[both, a] * K + types[both, b]] = 1.0

    def finalize(sums: np.ndarray) -> np.ndarray:
        T = sums.reshape(-1, P, K, K)
        kappa, po = _kappa_and_agreement(T)
        w = T.sum(axis=(-1, -2))
        out = np.empty((T.shape[0], 2))
        for i, v in enumerate((kappa, po)):
            ok = ~np.isnan(v) & (w > 0)
            num, den = np.where(ok, v * w, 0).sum(axis=1), np.where(ok, w, 0).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, i] = num / den
        return out

    res = bootstrap_sums(C, finalize, n_boot=n_boot, seed=seed, counts=counts, method=ci_method)
    point_tables = (counts @ C).reshape(P, K, K)
    k0, _ = _kappa_and_agreement(point_tables)
    boot = f"{ci_method} bootstrap over items ({n_boot} resamples)"
    note_base = (f"{level} categories compared as labels; {P} rater pair(s) with shared items, mean over pairs "
                 "weighted by the number of items each pair shares")
    n_items = int(counts.sum())
    rows = []
    if "pairwise_cohen_kappa" in want:
        undefined = int(np.isnan(k0).sum())
        rows.append(StatRow("pairwise_cohen_kappa", float(res.value[0]), float(res.ci_low[0]), float(res.ci_high[0]),
                            n=n_items, note=f"mean pairwise Cohen's kappa; {note_base}" + (
                                f"; {undefined} pair(s) with one category only left out (kappa undefined)"
                                if undefined else "") + f"; {boot}"))
    if "pairwise_agreement" in want:
        rows.append(StatRow("pairwise_agreement", float(res.value[1]), float(res.ci_low[1]), float(res.ci_high[1]),
                            n=n_items, note=f"mean pairwise percent agreement (share, 0-1); {note_base}; {boot}"))
    return rows

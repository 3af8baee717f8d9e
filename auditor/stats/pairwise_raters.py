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

from ._bootstrap import resample_weights
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
                              n_boot: int = 1000, seed: int = 0,
                              statistics: list[str] | None = None) -> list[StatRow]:
    """One rating per (unit, rater) expected (a rater's repeated ratings of a unit: the first is used)."""
    want = [s for s in PAIRWISE_STATISTICS if statistics is None or s in statistics]
    if not want or level not in ("binary", "nominal", "ordinal"):
        return []
    units, raters, values = np.asarray(units), np.asarray(raters), np.asarray(values, dtype=float)
    uid, ucode = np.unique(units, return_inverse=True)
    rid, rcode = np.unique(raters, return_inverse=True)
    cats, ccode = np.unique(values, return_inverse=True)
    K, R, U = cats.size, rid.size, uid.size
    M = np.full((U, R), -1, dtype=np.int64)
    M[ucode[::-1], rcode[::-1]] = ccode[::-1]              # the first rating of a (unit, rater) wins
    pairs = [(a, b) for a in range(R) for b in range(a + 1, R)]
    shared = [np.flatnonzero((M[:, a] >= 0) & (M[:, b] >= 0)) for a, b in pairs]
    keep = [p for p, s in enumerate(shared) if s.size]
    note_base = (f"{level} categories compared as labels; {len(keep)} rater pair(s) with shared items, mean over "
                 "pairs weighted by the number of items each pair shares")
    if not keep:
        return [StatRow(s, float("nan"), note="undefined: no two raters rated the same item") for s in want]
    w = np.array([shared[p].size for p in keep], dtype=float)
    cells = [M[shared[p], pairs[p][0]] * K + M[shared[p], pairs[p][1]] for p in keep]

    def tables(weights: np.ndarray | None) -> np.ndarray:
        """(b, P, K, K) tables, item weights (b, U) or None = each item once."""
        out = []
        for p, c in zip(keep, cells):
            onehot = np.zeros((c.size, K * K))
            onehot[np.arange(c.size), c] = 1.0
            wt = np.ones((1, c.size)) if weights is None else weights[:, shared[p]]
            out.append((wt @ onehot).reshape(-1, K, K))
        return np.stack(out, axis=1)

    k0, a0 = _kappa_and_agreement(tables(None)[0])
    rated = np.flatnonzero((M >= 0).sum(axis=1) >= 2)   # items some pair shares: the bootstrap's units

    def wmean(v, wt):
        ok = ~np.isnan(v)
        return float(np.sum(v[ok] * wt[ok]) / np.sum(wt[ok])) if ok.any() else float("nan")

    kb, ab = np.full(n_boot, np.nan), np.full(n_boot, np.nan)
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        b0 = 0
        for W in resample_weights(np.ones(rated.size), n_boot, rng):
            full = np.zeros((W.shape[0], U))
            full[:, rated] = W
            T = tables(full)
            kk, aa = _kappa_and_agreement(T)
            wts = T.sum(axis=(-1, -2))
            for i in range(W.shape[0]):
                kb[b0 + i], ab[b0 + i] = wmean(kk[i], wts[i]), wmean(aa[i], wts[i])
            b0 += W.shape[0]

    def ci(s):
        s = s[~np.isnan(s)]
        return tuple(float(x) for x in np.quantile(s, [0.025, 0.975])) if s.size >= 2 else (np.nan, np.nan)

    boot = f"percentile bootstrap over items ({n_boot} resamples)"
    n_items = int(rated.size)
    rows = []
    if "pairwise_cohen_kappa" in want:
        undefined = int(np.isnan(k0).sum())
        rows.append(StatRow("pairwise_cohen_kappa", wmean(k0, w), *ci(kb), n=n_items,
                            note=f"mean pairwise Cohen's kappa; {note_base}" + (
                                f"; {undefined} pair(s) with one category only left out (kappa undefined)"
                                if undefined else "") + f"; {boot}"))
    if "pairwise_agreement" in want:
        rows.append(StatRow("pairwise_agreement", wmean(a0, w), *ci(ab), n=n_items,
                            note=f"mean pairwise percent agreement (share, 0-1); {note_base}; {boot}"))
    return rows

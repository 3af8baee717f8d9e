"""Stability of one LLM rater: does it give the same answer when asked again, or with the answers swapped?

* ``test_retest_alpha`` - Krippendorff's alpha among the repeated samples (sample 0, 1, ...) of one LLM rater on
  the same conversations, at the dimension's level; samples play the part of raters. 1 = every re-ask gives the
  same score, 0 = the samples agree no better than chance. Needs conversations with >= 2 samples.
* ``flip_rate`` - share of conversations with >= 2 samples whose samples are *not* all equal (values compared
  exactly, so for continuous scores such as expected values almost any difference is a flip). 0 = never flips.
  With two samples per conversation this is the usual "verdict changed on re-run" rate; with k samples it is
  P(not unanimous), which grows with k.
* ``position_consistency`` - pairwise data (which of answers A and B is better) judged in both orders: share of
  conversations where the verdict is the same in both orders. **Storage convention:** the swapped-order run is a
  second rater whose id is the first one's plus ``:swapped`` (``gpt-4o`` and ``gpt-4o:swapped``), and its labels
  are stored in the *original* frame (A = the answer shown first in the original order, mapped back before
  ingest), so a position-robust judge gives equal labels. Samples of either rater are aggregated first by the
  consensus rule. 1 = no position effect; a judge that always picks the first-shown answer scores 0 on every pair
  without a tie.

Intervals: bootstrap over conversations.
"""

from __future__ import annotations

import numpy as np

from ._arrays import unique as _unique, unique_rows
from ._bootstrap import bootstrap_sums
from ._registry import register
from ._result import StatRow

__all__ = ["SWAPPED_SUFFIX", "retest_alpha", "flip_rate", "position_consistency"]

SWAPPED_SUFFIX = ":swapped"


def _ci(n_boot, ci_method, n):
    if n_boot <= 0 or n < 2:
        return "no interval"
    return f"{'BCa' if ci_method == 'bca' else 'percentile'} bootstrap over {n} conversations, B={n_boot}"


def _share(flags: np.ndarray, name: str, note: str, n_boot, seed, ci_method, confidence) -> StatRow:
    flags = np.asarray(flags, dtype=float)
    res = bootstrap_sums(np.column_stack([flags, np.ones_like(flags)]), lambda s: s[:, 0] / s[:, 1],
                         n_boot=n_boot, seed=seed, method=ci_method, confidence=confidence)
    return StatRow(name, float(res.value[0]), float(res.ci_low[0]), float(res.ci_high[0]), int(flags.size),
                   f"{note}; {_ci(n_boot, ci_method, flags.size)}")


def _samples_per_unit(units, samples):
    key, _ = unique_rows(np.column_stack([np.asarray(units), np.asarray(samples)]))
    u, k = np.unique(key[:, 0], return_counts=True)
    return u, k


@register("test_retest_alpha", kind="stability", higher_is_better=True, maximum=1.0,
          doc="Krippendorff's alpha among repeated samples of one LLM rater (1 = perfectly repeatable).")
def retest_alpha(units, samples, values, *, level: str, option_values=None, n_boot: int = 1000,
                      seed: int | None = 0, ci_method: str = "percentile", confidence: float = 0.95) -> StatRow:
    """Krippendorff's alpha with the sample index as the rater (one rating per (unit, sample)).

    Examples
    --------
    >>> row = retest_alpha([1, 1, 2, 2, 3, 3], [0, 1, 0, 1, 0, 1], [1, 1, 2, 2, 3, 3], level="interval",
    ...                    n_boot=0)
    >>> row.value, row.n
    (1.0, 3)
    """
    from .multirater import multirater_statistics

    units, samples = np.asarray(units), np.asarray(samples)
    values = np.asarray(values, dtype=float)
    u, k = _samples_per_unit(units, samples)
    multi = u[k >= 2]
    if multi.size == 0:
        return StatRow("test_retest_alpha", np.nan, n=0, note="undefined: no conversation has two or more samples "
                       "of this rater; re-run the judge with samples >= 2 to measure test-retest reliability")
    m = np.isin(units, multi)
    row = multirater_statistics(units[m], samples[m], values[m], level=level, option_values=option_values,
                                statistics=["krippendorff_alpha"], n_boot=n_boot, seed=seed, ci_method=ci_method,
                                confidence=confidence)[0]
    row.statistic = "test_retest_alpha"
    row.note = (f"Krippendorff's alpha among the repeated samples (samples as raters) on {multi.size} "
                f"conversation(s) with >= 2 samples; " + row.note)
    return row


@register("flip_rate", kind="stability", higher_is_better=False, maximum=0.0,
          doc="Share of conversations whose repeated samples of one LLM rater are not all equal.")
def flip_rate(units, samples, values, *, n_boot: int = 1000, seed: int | None = 0, ci_method: str = "percentile",
              confidence: float = 0.95) -> StatRow:
    """P(the samples of a conversation are not unanimous), over conversations with >= 2 samples.

    Examples
    --------
    >>> flip_rate([1, 1, 2, 2, 3, 3, 4], [0, 1, 0, 1, 0, 1, 0], [1, 1, 2, 3, 3, 3, 1], n_boot=0).value
    0.3333333333333333
    """
    units = np.asarray(units)
    values = np.asarray(values, dtype=float)
    u, inv = np.unique(units, return_inverse=True)
    inv = inv.ravel()
    cnt = np.bincount(inv, minlength=u.size)
    hi = np.full(u.size, -np.inf)
    lo = np.full(u.size, np.inf)
    np.maximum.at(hi, inv, values)
    np.minimum.at(lo, inv, values)
    multi = cnt >= 2
    if not multi.any():
        return StatRow("flip_rate", np.nan, n=0, note="undefined: no conversation has two or more samples of this "
                       "rater; re-run the judge with samples >= 2")
    flips = (hi[multi] != lo[multi]).astype(float)
    k = cnt[multi]
    return _share(flips, "flip_rate", f"share of conversations whose {int(k.min())}-{int(k.max())} samples are not "
                  "all equal (values compared exactly)" if k.min() != k.max() else
                  f"share of conversations whose {int(k.min())} samples are not all equal (values compared exactly)",
                  n_boot, seed, ci_method, confidence)


@register("position_consistency", kind="stability", levels=("binary", "nominal", "ordinal", "interval", "ratio"),
          higher_is_better=True, maximum=1.0,
          doc="Share of pairwise verdicts unchanged when the two answers are shown in the other order.")
def position_consistency(units, original, swapped_units, swapped, *, n_boot: int = 1000, seed: int | None = 0,
                         ci_method: str = "percentile", confidence: float = 0.95) -> StatRow:
    """Agreement of one verdict per conversation in the original order with the one in the swapped order.

    Parameters
    ----------
    units, original : (n,) conversation and verdict (value, in the original frame) of the original-order run.
    swapped_units, swapped : (m,) the same for the swapped-order run (labels mapped back to the original frame).

    Examples
    --------
    >>> position_consistency([1, 2, 3, 4], [0, 1, 0, 1], [1, 2, 3, 4], [0, 1, 1, 0], n_boot=0).value
    0.5
    """
    u1, v1 = np.asarray(units), np.asarray(original, dtype=float)
    u2, v2 = np.asarray(swapped_units), np.asarray(swapped, dtype=float)
    for u in (u1, u2):
        if _unique(u).size != u.size:
            raise ValueError("one verdict per conversation and order: aggregate repeated samples first")
    common, i1, i2 = np.intersect1d(u1, u2, return_indices=True)
    if common.size == 0:
        return StatRow("position_consistency", np.nan, n=0, note="undefined: no conversation judged in both "
                       "orders")
    same = (v1[i1] == v2[i2]).astype(float)
    return _share(same, "position_consistency", f"share of {common.size} conversations judged in both answer orders "
                  f"whose verdicts agree ({int(common.size - same.sum())} changed with the order)", n_boot, seed,
                  ci_method, confidence)

"""The alternative annotator test (alt-test): can the LLM replace a human annotator?

Calderon, Reichart & Dror (ACL 2025), "The Alternative Annotator Test for LLM-as-a-Judge: How to Statistically
Justify Replacing Human Annotators with LLMs". Procedure (as in the authors' reference code):

1. Keep the items (conversations) that the LLM rated and that have at least two human ratings.
2. For each human h with at least ``min_items`` kept items ("enough items"; the paper asks for >= 30 so the t-test's
   normality holds): for every item i of h, score how well the LLM and h each align with the *remaining* humans of i:
   ``S(pred, others) = mean over the other humans' annotations a of [pred == a]`` (``accuracy``, for binary and
   nominal dimensions) or ``-sqrt(mean (pred - a)^2)`` (``neg_rmse``, for ordinal, interval and ratio ones).
   The per-item win indicators are ``W_llm = [S_llm >= S_h]`` and ``W_h = [S_h >= S_llm]`` (a tie is a win for both).
3. One-sided paired t-test per human on d_i = W_h,i - W_llm,i with margin epsilon:
   H0: rho_llm <= rho_h - epsilon vs H1: rho_llm > rho_h - epsilon, i.e. ``ttest_1samp(d, epsilon,
   alternative="less")``. A larger epsilon is a larger allowance for the LLM's cost advantage (paper: 0.2 for
   experts, 0.15 skilled annotators, 0.1 crowd workers).
4. Benjamini-Yekutieli over the humans' p-values at level q (default 0.05).
5. ``alt_test_winning_rate`` = share of tested humans whose H0 is rejected (the LLM "wins" against them);
   ``alt_test_passed`` = 1 when the winning rate >= 0.5, else 0; ``alt_test_advantage`` = the advantage probability
   rho = mean over humans of mean_i W_llm,i: how often the LLM aligns with the others at least as well as the
   excluded human (compare LLMs by it; it does not depend on epsilon).

Refusals (NaN with the reason): fewer than ``min_humans`` (default 3, the paper's recommendation) humans with enough
items; no item with two human ratings. When a human's differences d are all equal, the t statistic is +-inf and the
p-value 0 (mean(d) < epsilon) or 1 (as scipy); mean(d) == epsilon exactly gives p = 1 (not rejected).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from . import _dist

from ._arrays import dense_codes, unique_rows
from ._bootstrap import bootstrap_sums
from ._registry import register
from ._result import StatRow

__all__ = ["ALT_TEST_STATISTICS", "AltTestResult", "alt_test", "alt_test_statistics", "benjamini_yekutieli",
           "scoring_for_level"]

ALT_TEST_STATISTICS = ["alt_test_winning_rate", "alt_test_advantage", "alt_test_passed"]
DEFAULT_EPSILON = 0.15
DEFAULT_Q = 0.05
DEFAULT_MIN_ITEMS = 30
DEFAULT_MIN_HUMANS = 3
_MAX_NOTE_HUMANS = 8


def scoring_for_level(level: str) -> str:
    """``accuracy`` for binary / nominal dimensions, ``neg_rmse`` otherwise."""
    return "accuracy" if level in ("binary", "nominal") else "neg_rmse"


def benjamini_yekutieli(p_values, q: float = DEFAULT_Q) -> np.ndarray:
    """Boolean mask of the hypotheses rejected by the Benjamini-Yekutieli step-up procedure at FDR level q.

    Reject the k smallest p-values, k the largest index with p_(k) <= k / m * q / H_m, H_m = sum_{i<=m} 1/i.
    NaN p-values are never rejected.
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")
    h_m = np.sum(1.0 / np.arange(1, m + 1))
    thresholds = np.arange(1, m + 1) / m * q / h_m
    ok = p[order] <= thresholds
    out = np.zeros(m, dtype=bool)
    if ok.any():
        out[order[: np.flatnonzero(ok).max() + 1]] = True
    return out


@dataclass
class AltTestResult:
    """Everything the alt-test computed. ``per_human`` has one row per human with enough items."""

    winning_rate: float
    advantage: float
    passed: float
    per_human: pd.DataFrame
    n_items: int
    reason: str = ""
    epsilon: float = DEFAULT_EPSILON
    q: float = DEFAULT_Q
    scoring: str = "accuracy"
    wins: np.ndarray | None = None          # (n_items, H) W_llm, NaN where the human did not rate the item
    items: np.ndarray | None = None


def _scores(pred: np.ndarray, others: np.ndarray, scoring: str) -> np.ndarray:
    """S(pred_i, others_i) per row; ``others`` (k, H) with NaN for humans who did not rate the item."""
    have = ~np.isnan(others)
    n = have.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if scoring == "accuracy":
            return np.where(have, others == pred[:, None], False).sum(axis=1) / n
        sq = np.where(have, (pred[:, None] - others) ** 2, 0.0)
        return -np.sqrt(sq.sum(axis=1) / n)


def _terms(pred: np.ndarray, M: np.ndarray, have: np.ndarray, scoring: str) -> np.ndarray:
    """(k, H) per-human terms of S(pred_i, .): match indicators or squared differences, 0 where not rated."""
    out = np.zeros(M.shape, dtype=bool if scoring == "accuracy" else float)
    for c in range(M.shape[1]):                      # column by column: no (k, H) temporaries
        with np.errstate(invalid="ignore"):
            if scoring == "accuracy":
                np.equal(M[:, c], pred, out=out[:, c], where=have[:, c])
            else:
                d = pred - M[:, c]
                d *= d
                np.copyto(out[:, c], d, where=have[:, c])
    return out


def _score_others(terms: np.ndarray, j: int, n: np.ndarray, scoring: str) -> np.ndarray:
    """:func:`_scores` against every human but ``j`` from :func:`_terms` (``terms`` is overwritten): the same
    sums over the same (k, H) rows with column j zeroed, so the same floating-point results."""
    terms[:, j] = 0
    with np.errstate(invalid="ignore", divide="ignore"):
        if scoring == "accuracy":
            return terms.sum(axis=1) / n
        return -np.sqrt(terms.sum(axis=1) / n)


def _has_duplicate_pairs(item: np.ndarray, rater: np.ndarray) -> bool:
    """Whether some (item, rater) pair occurs twice (``item``, ``rater``: dense integer codes)."""
    if item.size < 2:
        return False
    span = int(rater.max()) + 1
    key = item.astype(np.int64) * span + rater
    if (int(item.max()) + 1) * span <= 4 * item.size + 1024:
        return bool(np.bincount(key).max() > 1)
    key = np.sort(key)
    return bool(np.any(key[1:] == key[:-1]))


def alt_test(item, rater, value, llm_item, llm_value, *, scoring: str = "accuracy",
             epsilon: float = DEFAULT_EPSILON, q: float = DEFAULT_Q, min_items: int = DEFAULT_MIN_ITEMS,
             min_humans: int = DEFAULT_MIN_HUMANS, rater_names=None) -> AltTestResult:
    """Run the alt-test on long-format human ratings and the LLM's per-item annotation.

    Parameters
    ----------
    item, rater, value : (N,) one human rating per element: item id, human id, numeric value (NaN = none).
        One rating per (item, human).
    llm_item, llm_value : (M,) the LLM's annotation per item (one per item).
    scoring : ``"accuracy"`` (exact match; binary / nominal) or ``"neg_rmse"`` (ordinal / interval / ratio).
    epsilon : the cost-benefit margin (default 0.15).
    q : Benjamini-Yekutieli FDR level (default 0.05).
    min_items : a human is tested only with at least this many items shared with the LLM and another human.
    min_humans : refuse (NaN, with the reason) below this many tested humans.
    rater_names : optional mapping human id -> display name for ``per_human``.

    Returns
    -------
    :class:`AltTestResult`; ``per_human`` columns: ``human``, ``n_items``, ``rho_llm``, ``rho_human``,
    ``mean_diff`` (mean of W_h - W_llm), ``t``, ``p_value``, ``rejected`` (the LLM wins against this human).
    """
    if scoring not in ("accuracy", "neg_rmse"):
        raise ValueError(f"scoring must be 'accuracy' or 'neg_rmse'; got {scoring!r}")
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1); got {q}")
    item = np.asarray(item)
    rater = np.asarray(rater)
    value = np.asarray(value, dtype=float)
    keep = ~np.isnan(value)
    item, rater, value = item[keep], rater[keep], value[keep]
    llm_item = np.asarray(llm_item)
    llm_value = np.asarray(llm_value, dtype=float)
    ok = ~np.isnan(llm_value)
    llm_item, llm_value = llm_item[ok], llm_value[ok]
    # items of the humans and of the LLM coded together (sorted ids), humans coded by sorted id
    n_h = item.size
    codes, items = dense_codes(np.concatenate([item, llm_item]))
    i_idx, l_idx = codes[:n_h], codes[n_h:]
    if np.bincount(l_idx, minlength=items.size).max(initial=0) > 1:
        raise ValueError("llm_item must hold one annotation per item (aggregate repeated samples first)")
    h_all, humans_all = dense_codes(rater)
    if _has_duplicate_pairs(i_idx, h_all):
        raise ValueError("more than one rating for an (item, human) pair; aggregate them first")
    empty = pd.DataFrame(columns=["human", "n_items", "rho_llm", "rho_human", "mean_diff", "t", "p_value",
                                  "rejected"])

    def refuse(reason, n_items=0, per=empty):
        return AltTestResult(np.nan, np.nan, np.nan, per, n_items, reason, epsilon, q, scoring)

    # items the LLM rated that have >= 2 human ratings
    n_hum = np.bincount(i_idx, minlength=items.size)
    llm_at = np.full(items.size, np.nan)
    llm_at[l_idx] = llm_value
    in_llm = np.zeros(items.size, dtype=bool)
    in_llm[l_idx] = True
    kept = (n_hum >= 2) & in_llm
    if not kept.any():
        return refuse("refused: no item rated by the LLM has two or more human ratings, so no human can be "
                      "compared with the others (the alt-test needs >= 2 humans per item and >= "
                      f"{min_humans} humans with >= {min_items} such items each)")
    items_k = items[kept]
    sel = kept[i_idx]
    h_sel, humans = dense_codes(h_all[sel])
    humans = humans_all[humans]
    row = (np.cumsum(kept) - 1)[i_idx[sel]]
    M = np.full((items_k.size, humans.size), np.nan)
    M[row, h_sel] = value[sel]
    pred = llm_at[kept]
    counts = (~np.isnan(M)).sum(axis=0)
    eligible = np.flatnonzero(counts >= min_items)
    names = [str(rater_names.get(h, h)) if rater_names else str(h) for h in humans]
    if eligible.size < min_humans:
        have = ", ".join(f"{names[j]}: {int(counts[j])}" for j in np.argsort(-counts)[:_MAX_NOTE_HUMANS])
        return refuse(f"refused: {eligible.size} human(s) have >= {min_items} items shared with the LLM and another "
                      f"human; the alt-test needs >= {min_humans} (items per human: {have})", int(items_k.size))
    W = np.full((items_k.size, humans.size), np.nan)
    rows = []
    have = ~np.isnan(M)
    n_others = have.sum(axis=1) - 1                  # on the items a human rated: the other humans' ratings
    llm_terms = _terms(pred, M, have, scoring)       # (items, H): the LLM's score terms against each human
    for j in eligible:
        r = np.flatnonzero(have[:, j])
        every = r.size == M.shape[0]                 # no row subset to copy out
        Mr, hr, nr = (M, have, n_others) if every else (M[r], have[r], n_others[r])
        s_h = _score_others(_terms(Mr[:, j], Mr, hr, scoring), j, nr, scoring)
        s_f = _score_others(llm_terms.copy() if every else llm_terms[r], j, nr, scoring)
        w_f = (s_f >= s_h).astype(float)
        w_h = (s_h >= s_f).astype(float)
        W[r, j] = w_f
        d = w_h - w_f
        n = d.size
        mean = d.mean()
        sd = d.std(ddof=1) if n > 1 else np.nan
        if n > 1 and sd > 0:
            t = (mean - epsilon) / (sd / np.sqrt(n))
            p = float(_dist.t_cdf(t, n - 1))
        elif n > 1:
            t = -np.inf if mean < epsilon else (np.inf if mean > epsilon else np.nan)
            p = 0.0 if mean < epsilon else 1.0
        else:
            t, p = np.nan, 1.0
        rows.append(dict(human=names[j], n_items=int(n), rho_llm=float(w_f.mean()), rho_human=float(w_h.mean()),
                         mean_diff=float(mean), t=float(t), p_value=p))
    per = pd.DataFrame(rows)
    per["rejected"] = benjamini_yekutieli(per["p_value"].to_numpy(), q)
    wr = float(per["rejected"].mean())
    res = AltTestResult(wr, float(per["rho_llm"].mean()), float(wr >= 0.5), per, int(items_k.size), "", epsilon, q,
                        scoring, W[:, eligible], items_k)
    return res


@register("alt_test_winning_rate", kind="alt_test", levels=("binary", "nominal", "ordinal", "interval", "ratio"),
          higher_is_better=True, maximum=1.0,
          doc="Alt-test winning rate: share of humans the LLM beats (BY-corrected t-tests with margin epsilon).")
def alt_test_statistics(item, rater, value, llm_item, llm_value, *, level: str, epsilon: float = DEFAULT_EPSILON,
                        q: float = DEFAULT_Q, min_items: int = DEFAULT_MIN_ITEMS,
                        min_humans: int = DEFAULT_MIN_HUMANS, rater_names=None, statistics=None,
                        n_boot: int = 1000, seed: int | None = 0, ci_method: str = "percentile",
                        confidence: float = 0.95) -> list[StatRow]:
    """The alt-test as tidy rows: ``alt_test_winning_rate``, ``alt_test_advantage``, ``alt_test_passed``.

    Arguments as :func:`alt_test`; ``level`` picks the scoring (:func:`scoring_for_level`). The winning rate and
    the pass/fail decision are test outcomes with no interval; the advantage probability gets a bootstrap interval
    over items (the per-human test set-up held fixed). ``n`` = items used (winning rate, advantage) or humans
    tested (passed).

    Examples
    --------
    Three humans, 30 items; the LLM always gives the majority answer, the humans each miss on a third of items:

    >>> import numpy as np
    >>> truth = np.arange(30) % 2
    >>> H = np.tile(truth, (3, 1)); H[0, :10] ^= 1; H[1, 10:20] ^= 1; H[2, 20:] ^= 1
    >>> items = np.tile(np.arange(30), 3); raters = np.repeat([0, 1, 2], 30)
    >>> rows = alt_test_statistics(items, raters, H.ravel(), np.arange(30), truth, level="binary", n_boot=0)
    >>> [(r.statistic, round(r.value, 3)) for r in rows]
    [('alt_test_winning_rate', 1.0), ('alt_test_advantage', 1.0), ('alt_test_passed', 1.0)]
    """
    names = list(ALT_TEST_STATISTICS if statistics is None else statistics)
    bad = [s for s in names if s not in ALT_TEST_STATISTICS]
    if bad:
        raise LookupError(f"unknown alt-test statistic(s) {bad}; use {', '.join(ALT_TEST_STATISTICS)}")
    scoring = scoring_for_level(level)
    res = alt_test(item, rater, value, llm_item, llm_value, scoring=scoring, epsilon=epsilon, q=q,
                   min_items=min_items, min_humans=min_humans, rater_names=rater_names)
    setup = f"{scoring} alignment with the other humans; epsilon={epsilon:g}; Benjamini-Yekutieli q={q:g}"
    if res.reason:
        return [StatRow(s, np.nan, n=res.n_items, note=f"{setup}; {res.reason}") for s in names]
    per = res.per_human
    k, m = int(per["rejected"].sum()), len(per)
    shown = "; ".join(f"{r.human}: n={r.n_items}, rho_llm={r.rho_llm:.2f}, rho_h={r.rho_human:.2f}, p={r.p_value:.3g}"
                      f"{' (LLM wins)' if r.rejected else ''}" for r in per.head(_MAX_NOTE_HUMANS).itertuples())
    more = f"; ... {m - _MAX_NOTE_HUMANS} more (Python API: auditor.stats.alt_test.alt_test)" \
        if m > _MAX_NOTE_HUMANS else ""
    # advantage interval: bootstrap items; per-unit sums of W_llm and of "rated by h", per human
    W = res.wins
    have = ~np.isnan(W)
    C = np.hstack([np.where(have, W, 0.0), have.astype(float)])
    H = W.shape[1]

    def finalize(s):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.mean(s[:, :H] / s[:, H:], axis=1)

    Cu, cnt = unique_rows(C) if C.shape[0] > 1 else (C, None)
    boot = bootstrap_sums(Cu, finalize, n_boot=n_boot, seed=seed, method=ci_method, confidence=confidence,
                          counts=cnt)
    method = "BCa" if ci_method == "bca" else "percentile"
    ci = (f"{method} bootstrap over {res.n_items} items, B={n_boot}" if n_boot > 0 and res.n_items >= 2
          else "no interval")
    if boot.n_invalid.size and boot.n_invalid[0]:
        ci += f"; {int(boot.n_invalid[0])} resamples without an item of some human left out"
    notes = {
        "alt_test_winning_rate": f"the LLM beats {k} of {m} humans ({setup}; a test outcome: no interval); "
                                 f"{shown}{more}",
        "alt_test_advantage": f"mean over {m} humans of P(LLM aligns with the others at least as well as the human); "
                              f"{setup.split(';')[0]}; {ci}",
        "alt_test_passed": f"1 = winning rate {res.winning_rate:.3g} >= 0.5 (the LLM may replace the humans at "
                           f"epsilon={epsilon:g}), 0 = not; {setup}",
    }
    values = {"alt_test_winning_rate": (res.winning_rate, np.nan, np.nan, res.n_items),
              "alt_test_advantage": (float(boot.value[0]), float(boot.ci_low[0]), float(boot.ci_high[0]),
                                     res.n_items),
              "alt_test_passed": (res.passed, np.nan, np.nan, m)}
    return [StatRow(s, values[s][0], values[s][1], values[s][2], values[s][3], notes[s]) for s in names]


register("alt_test_advantage", kind="alt_test", higher_is_better=True, maximum=1.0,
         doc="Alt-test advantage probability rho: P(LLM aligns with the humans at least as well as a human).")(
    alt_test_statistics)
register("alt_test_passed", kind="alt_test", higher_is_better=True, maximum=1.0,
         doc="Alt-test decision: 1 when the winning rate >= 0.5, else 0.")(alt_test_statistics)

"""System-level agreement: would the LLM rater rank the systems under test (agents, dialogue systems, models) the
way people do?

Input: one row per (system, unit) with the sums and counts of the human ratings and of the LLM's ratings on that
unit. The unit is the conversation in the paired design (LLM and humans rated the same conversation) and the task
in the matched design (they rated different conversations of the same task and system). A system's mean is its
total rating over its total count (every rated conversation weighs the same). The bootstrap resamples units
*within* each system (systems are fixed, their conversations are the sample), B resamples at once.

Statistics (rows ``system_*``), every interval a percentile bootstrap interval over the same resamples:

- ``system_human_mean=<system>``, ``system_llm_mean=<system>``: the per-system means.
- ``system_kendall_tau_b``, ``system_spearman``: between the LLM's and the humans' system means (tau-b and
  Spearman's rho with average ranks, as scipy computes them).
- ``system_pairwise_agreement``: among system pairs whose *human* difference is significant (its 95 % bootstrap
  interval excludes 0), the share the LLM orders the same way (a tie counts as not the same); ``n`` = such pairs.
- ``system_reversed_pairs``: how many of those pairs the LLM orders the other way round.
- ``system_top1_agreement``: 1 if the LLM's best system (highest mean, or lowest when lower is better) is the
  humans' best, else 0; ``system_top1_probability``: the share of resamples in which the two best systems agree.

Ordinal ratings are averaged as if interval (what alpaca_eval and the HANNA authors do at system level); the
note says so, and gives the reliability of the system means (warning when much of their spread is noise, where the
rank intervals under-cover). Fewer than 3 systems: the rank statistics are undefined (NaN, with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._bootstrap import resample_weights
from ._result import StatRow

__all__ = ["SystemUnits", "system_statistics", "kendall_tau_b_rows", "spearman_rows", "SYSTEM_STATISTICS"]

SYSTEM_STATISTICS = ["system_kendall_tau_b", "system_spearman", "system_pairwise_agreement", "system_reversed_pairs",
                     "system_top1_agreement", "system_top1_probability", "system_human_mean", "system_llm_mean"]


@dataclass
class SystemUnits:
    """Per (system, unit): ``system`` (int code 0..S-1), sums and counts of human (h) and LLM (l) ratings."""

    system: np.ndarray
    h_sum: np.ndarray
    h_cnt: np.ndarray
    l_sum: np.ndarray
    l_cnt: np.ndarray
    names: list[str]          # system code -> name


def _pairs(s: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(s, k=1)


def kendall_tau_b_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between the columns of ``x`` and ``y`` for every row (shape (B, S) -> (B,)):
    sum(sign dx * sign dy) / sqrt(#pairs untied in x * #pairs untied in y)."""
    i, j = _pairs(x.shape[1])
    sx, sy = np.sign(x[:, j] - x[:, i]), np.sign(y[:, j] - y[:, i])
    den = np.sqrt(np.abs(sx).sum(axis=1) * np.abs(sy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (sx * sy).sum(axis=1) / np.where(den > 0, den, 1), np.nan)


def average_ranks_rows(a: np.ndarray) -> np.ndarray:
    """``scipy.stats.rankdata(a, axis=1)``: 1-based average ranks within each row (ties share the mean of their
    positions); a row holding NaN is all NaN. Ranks are half-integers, so exact."""
    a = np.asarray(a, dtype=float)
    B, S = a.shape
    out = np.full((B, S), np.nan)
    if S == 0:
        return out
    order = np.argsort(a, axis=1, kind="mergesort")
    s = np.take_along_axis(a, order, axis=1)
    pos = np.broadcast_to(np.arange(S), (B, S))
    new = np.ones((B, S), dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    last = np.ones((B, S), dtype=bool)
    last[:, :-1] = new[:, 1:]
    start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    end = np.minimum.accumulate(np.where(last, pos, S - 1)[:, ::-1], axis=1)[:, ::-1]
    np.put_along_axis(out, order, (start + end) / 2.0 + 1.0, axis=1)
    out[np.isnan(a).any(axis=1)] = np.nan
    return out


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho (Pearson correlation of average ranks) for every row of (B, S) arrays."""
    rx, ry = average_ranks_rows(x), average_ranks_rows(y)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / np.where(den > 0, den, 1), np.nan)


def _resampled_means(su: SystemUnits, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, S) human and LLM system means over bootstrap resamples of units within systems."""
    rng = np.random.default_rng(seed)
    S = len(su.names)
    h, ll = np.full((n_boot, S), np.nan), np.full((n_boot, S), np.nan)
    if n_boot == 0:
        return h, ll
    for s in range(S):
        m = su.system == s
        C = np.column_stack([su.h_sum[m], su.h_cnt[m], su.l_sum[m], su.l_cnt[m]])
        sums = np.vstack([W @ C for W in resample_weights(np.ones(C.shape[0]), n_boot, rng)])
        with np.errstate(invalid="ignore", divide="ignore"):
            h[:, s] = sums[:, 0] / sums[:, 1]
            ll[:, s] = sums[:, 2] / sums[:, 3]
    return h, ll


def _ci(samples: np.ndarray) -> tuple[float, float]:
    s = samples[~np.isnan(samples)]
    if s.size < 2:
        return float("nan"), float("nan")
    lo, hi = np.quantile(s, [0.025, 0.975])
    return float(lo), float(hi)


def _reliability(means: np.ndarray, boot: np.ndarray) -> float:
    """Share of the spread of the system means that is not sampling noise: 1 - mean(bootstrap variance) /
    variance of the means (an estimate of the reliability of the system means; 1 = noise-free)."""
    if boot.shape[0] < 2:
        return float("nan")
    v = np.var(means, ddof=1)
    return float(1 - np.nanmean(np.nanvar(boot, axis=0, ddof=1)) / v) if v > 0 else float("nan")


def _closeness(hm, hb, lm, lb) -> str:
    """The reliability of both sides' system means, with a warning when it is low: rank statistics of noisy means
    are biased toward 0 and their percentile interval then under-covers. In simulations (10 systems x 96
    conversations, benchmarks/sim_system_coverage.py) the 95 % interval of tau-b covered 94-96 % at reliability
    0.83-0.87, 88 % at 0.7, 76 % at 0.4, and 98-100 % (conservative) above 0.9."""
    r = min(_reliability(hm, hb), _reliability(lm, lb))
    if r != r:
        return ""
    text = f"; reliability of the system means {r:.2f} (the lower of the two sides)"
    if not r >= 0.8:
        text += ("; warning: much of the spread between systems is sampling noise, so this interval can be too "
                 "narrow (rate more conversations per system)")
    return text


def system_statistics(su: SystemUnits, *, higher_is_better: bool | None = True, n_boot: int = 1000, seed: int = 0,
                      level: str = "interval", statistics: list[str] | None = None) -> list[StatRow]:
    """Every system-level row (see the module docstring) for one LLM rater and one dimension."""
    want = set(statistics or SYSTEM_STATISTICS)
    S = len(su.names)
    h_tot = np.bincount(su.system, su.h_sum, S)
    h_n = np.bincount(su.system, su.h_cnt, S)
    l_tot = np.bincount(su.system, su.l_sum, S)
    l_n = np.bincount(su.system, su.l_cnt, S)
    with np.errstate(invalid="ignore", divide="ignore"):
        hm, lm = h_tot / h_n, l_tot / l_n
    units = np.bincount(su.system, minlength=S)
    hb, lb = _resampled_means(su, n_boot, seed)
    boot = f"percentile bootstrap ({n_boot} resamples of units within systems)"
    scale = "" if level in ("interval", "ratio") else f"{level} ratings averaged as interval; "
    rows: list[StatRow] = []
    for s, name in enumerate(su.names):
        if "system_human_mean" in want:
            rows.append(StatRow(f"system_human_mean={name}", float(hm[s]), *_ci(hb[:, s]), n=int(units[s]),
                                note=f"{scale}mean human rating of the system; {boot}"))
        if "system_llm_mean" in want:
            rows.append(StatRow(f"system_llm_mean={name}", float(lm[s]), *_ci(lb[:, s]), n=int(units[s]),
                                note=f"{scale}mean LLM rating of the system; {boot}"))
    rank_names = [n for n in SYSTEM_STATISTICS[:6] if n in want]
    if S < 3:
        why = f"undefined: {S} system(s) with ratings by both; system rankings need at least 3"
        return rows + [StatRow(n, float("nan"), n=S, note=why) for n in rank_names]
    sign = -1.0 if higher_is_better is False else 1.0
    note = f"{scale}{S} systems; {boot}" + _closeness(hm, hb, lm, lb)
    if "system_kendall_tau_b" in want:
        v = float(kendall_tau_b_rows(lm[None], hm[None])[0])
        rows.append(StatRow("system_kendall_tau_b", v, *_ci(kendall_tau_b_rows(lb, hb)), n=S,
                            note=f"Kendall tau-b between the LLM's and the humans' system means; {note}"))
    if "system_spearman" in want:
        v = float(spearman_rows(lm[None], hm[None])[0])
        rows.append(StatRow("system_spearman", v, *_ci(spearman_rows(lb, hb)), n=S,
                            note=f"Spearman rho between the LLM's and the humans' system means; {note}"))
    i, j = _pairs(S)
    if n_boot < 2:
        rows += [StatRow(n, float("nan"), n=S, note="undefined without the bootstrap (--bootstrap 0): it decides "
                         "which pairs differ significantly") for n in ("system_pairwise_agreement",
                                                                       "system_reversed_pairs") if n in want]
    elif want & {"system_pairwise_agreement", "system_reversed_pairs"}:
        dh = hb[:, j] - hb[:, i]
        lo, hi = np.nanquantile(dh, 0.025, axis=0), np.nanquantile(dh, 0.975, axis=0)
        sig = (lo > 0) | (hi < 0)
        hs = np.sign(hm[j] - hm[i])[sig]
        same = np.sign(lm[j] - lm[i])[sig] == hs
        rev = np.sign(lm[j] - lm[i])[sig] == -hs
        b_same = (np.sign(lb[:, j] - lb[:, i])[:, sig] == hs).mean(axis=1) if sig.any() else np.full(n_boot, np.nan)
        b_rev = (np.sign(lb[:, j] - lb[:, i])[:, sig] == -hs).sum(axis=1).astype(float)
        pn = (f"{int(sig.sum())} of {i.size} system pairs differ significantly for the humans (95 % bootstrap "
              f"interval of the difference excludes 0)")
        if "system_pairwise_agreement" in want:
            rows.append(StatRow("system_pairwise_agreement", float(same.mean()) if sig.any() else float("nan"),
                                *_ci(b_same), n=int(sig.sum()),
                                note=(f"share of those pairs the LLM orders as the humans do (a tie is not); {pn}; "
                                      f"{note}") if sig.any() else f"undefined: no {pn[2:]}"))
        if "system_reversed_pairs" in want:
            rows.append(StatRow("system_reversed_pairs", float(rev.sum()), *_ci(b_rev), n=int(sig.sum()),
                                note=f"pairs the LLM orders the other way round; {pn}; {note}"))
    if want & {"system_top1_agreement", "system_top1_probability"}:
        best_h, best_l = np.argmax(sign * hm), np.argmax(sign * lm)
        pick = (f"the LLM's best system {su.names[best_l]!r}, the humans' {su.names[best_h]!r} "
                f"({'lowest' if sign < 0 else 'highest'} mean)")
        if "system_top1_agreement" in want:
            rows.append(StatRow("system_top1_agreement", float(best_h == best_l), n=S, note=f"{pick}; {scale}{S} "
                                "systems"))
        if "system_top1_probability" in want:
            ok = ~(np.isnan(hb).any(axis=1) | np.isnan(lb).any(axis=1))
            p = float(np.mean(np.argmax(sign * hb[ok], axis=1) == np.argmax(sign * lb[ok], axis=1))) \
                if ok.any() else float("nan")
            rows.append(StatRow("system_top1_probability", p, n=S,
                                note=f"share of {int(ok.sum())} bootstrap resamples in which the LLM's and the "
                                     f"humans' best systems are the same; {note}"))
    return rows

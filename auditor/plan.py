"""How many conversations should people rate? Label budgets from pilot data in the store (``auditor plan``).

For one LLM rater and one dimension, with the pilot's paired conversations (the LLM's score and the human
consensus per conversation):

- **Interval half-width against the number of conversations**, by resampling: at each size n the pilot's
  conversations are drawn n at a time with replacement (``reps`` simulated studies), each gets the audit's own
  bootstrap interval (``n_boot`` resamples), and the mean half-width is reported. The recommended n for a target
  half-width comes from a power-law fit log h = a + b log n over those points (b = -1/2 is the textbook rate), and
  is then checked by another round of simulated studies at that n (its half-width is reported beside the target;
  if it misses by more than 5 %, n steps along the fitted slope and is checked again, up to three times).
- **Alt-test power** (Calderon et al. 2025): the share of simulated studies of n conversations (drawn with their
  human ratings) in which the alternative annotator test passes at ``epsilon`` — the AltTest authors' way of
  choosing how many items to annotate — with all the pilot's humans and with fewer (down to the test's 3, at most
  6 humans shown; a random subset per study).
- **The human ceiling**: Krippendorff's alpha among K annotators per conversation (K = 2 up to what the pilot has,
  at most 5; K of each conversation's ratings drawn at random) by study size, and the conversations needed per K
  for the target half-width (from the fit, not re-checked).
- **PPI effective sample size**: how many human labels the labelled conversations plus the LLM's scores of the
  unlabelled ones are worth for the mean, n x (classical variance / PPI++ variance) at the tuned lambda.

Assumes the pilot is a simple random sample of the conversations to be rated (the note says so). Without a pilot,
``assume_alpha`` (with ``assume_levels`` options and ``assume_annotators`` humans per conversation) builds a
synthetic one from a latent-score model (:func:`_assumed_pilot`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import AuditorError
from .store import Store

__all__ = ["PlanOptions", "plan", "PLAN_STATISTICS"]

PLAN_STATISTICS = ["krippendorff_alpha", "mean_diff", "pearson", "mae", "exact_agreement", "ppi_mean"]


@dataclass
class PlanOptions:
    rater: str | None = None
    rubric: str | None = None
    dimension: str | None = None
    statistics: list[str] = field(default_factory=lambda: ["krippendorff_alpha", "mean_diff"])
    target: float = 0.05                 # target half-width of the 95 % interval
    sizes: list[int] | None = None       # simulated study sizes (default: from the pilot size)
    reps: int = 20
    n_boot: int = 200
    seed: int = 0
    alt_test: bool = True
    epsilon: float = 0.15
    assume_alpha: float | None = None    # no pilot: plan from an assumed alpha between the LLM and the humans
    assume_levels: int = 5               # ... on an ordinal scale of this many options
    assume_annotators: int = 1           # ... with this many humans per conversation


@dataclass
class Pilot:
    rater: str
    rubric: str
    dimension: object                    # the rubric's Dimension
    x: np.ndarray                        # LLM score per paired conversation
    y: np.ndarray                        # human consensus per paired conversation
    humans: tuple                        # (conv, rater, value) of the human ratings
    llm_units: np.ndarray
    llm_values: np.ndarray
    units: np.ndarray                    # the paired conversations


def _pilot(store: Store, opts: PlanOptions) -> Pilot:
    from .audit import _fetch
    from .audit._paired import paired_inputs, rater_scores, reference_scores

    raters = _fetch.raters(store)
    llm = [r for r, i in raters.items() if i.kind in ("judge", "simulator")]
    rater = opts.rater or (llm[0] if len(llm) == 1 else None)
    if rater is None:
        raise AuditorError("which LLM rater? Fix: pass --rater, one of " + (", ".join(llm) or "(none stored: ingest "
                           "LLM signals or run a judge first)") + ".")
    if rater not in raters or raters[rater].kind == "human":
        raise AuditorError(f"{rater!r} is not a stored LLM rater. Fix: use one of {', '.join(llm) or '(none yet)'}.")
    rubrics = [r for r in _fetch.stored_rubrics(store) if store.con.execute(
        "SELECT count(*) FROM signals WHERE rubric = ? AND rater_id = ? AND status = 'ok'", [r, rater]
    ).fetchall()[0][0]]
    rubric = opts.rubric or (rubrics[0] if len(rubrics) == 1 else None)
    if not rubrics:
        raise AuditorError(f"{rater!r} has no answered rating in this store. Fix: pick another --rater.")
    if rubric is None or rubric not in rubrics:
        why = f"rubric {opts.rubric!r} has no ratings by {rater!r}" if opts.rubric else \
            f"{rater!r} rated several rubrics"
        raise AuditorError(f"{why}. Fix: pass --rubric, one of {', '.join(rubrics)}.")
    rub = _fetch.load_stored_rubric(store, rubric)
    dims = rub.dimension_names
    name = opts.dimension or dims[0]
    if name not in dims:
        raise AuditorError(f"unknown dimension {name!r} in rubric {rubric!r}. Fix: use one of {', '.join(dims)}.")
    dim = rub.dimension(name)
    sig = _fetch.dimension_signals(store, rubric, name)
    human_idx = [i.index for i in raters.values() if i.kind == "human"]
    ref = reference_scores(sig, human_idx, dim.level)
    inp = paired_inputs(sig, raters[rater].index, ref, dim.level)
    if inp.units.size < 10:
        raise AuditorError(f"only {inp.units.size} conversation(s) have both a rating by {rater!r} and a human "
                           f"rating on {name!r}: too few to plan from. Fix: label a pilot first (e.g. `auditor "
                           "annotate create pilot --sample 30 ...`) or check --rater / --dimension.")
    lu, lv = rater_scores(sig, raters[rater].index, dim.level)
    return Pilot(rater, rubric, dim, inp.x, inp.y, ref[3], lu, lv, inp.units)


def _assumed_pilot(opts: PlanOptions, n: int = 2000) -> Pilot:
    """A synthetic pilot from assumptions: a latent N(0, 1) score per conversation, each human and the LLM see it
    with N(0, s^2) noise and answer on ``assume_levels`` equiprobable ordinal options; s is tuned (bisection) so
    that the LLM's ordinal alpha against the humans' consensus is ``assume_alpha``."""
    from .rubric import Dimension, Option
    from .stats.paired import paired_statistics

    a, k, m = opts.assume_alpha, int(opts.assume_levels), int(opts.assume_annotators)
    if not -1 < a < 1:
        raise AuditorError(f"--assume-alpha {a!r}: give the alpha you expect, between -1 and 1 (e.g. 0.6).")
    if k < 2 or m < 1:
        raise AuditorError("--assume-levels needs at least 2 options and --assume-annotators at least 1.")
    dim = Dimension(name="assumed", level="ordinal", options=[Option(label=str(i), value=i) for i in range(1, k + 1)])
    rng = np.random.default_rng(opts.seed)
    z = rng.normal(size=n)
    e_h, e_l = rng.normal(size=(m, n)), rng.normal(size=n)
    cuts = np.quantile(z, np.linspace(0, 1, k + 1)[1:-1])

    def build(s):
        h = 1 + np.stack([np.searchsorted(cuts, z + s * e) for e in e_h])
        ll = 1 + np.searchsorted(cuts, z + s * e_l)
        y = np.sort(h, axis=0)[(m - 1) // 2]          # the audit's ordinal consensus: the (lower) median
        return h.astype(float), ll.astype(float), y.astype(float)

    def alpha_at(s):
        _, ll, y = build(s)
        return paired_statistics(ll, y, level="ordinal", option_values=dim.distinct_values,
                                 statistics=["krippendorff_alpha"], n_boot=0)[0].value

    lo, hi = 1e-3, 20.0
    if alpha_at(lo) < a:
        raise AuditorError(f"--assume-alpha {a:g} is higher than {k} options allow in this model "
                           f"({alpha_at(lo):.3f}). Fix: assume a lower alpha or more options.")
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if alpha_at(mid) > a else (lo, mid)
    h, ll, y = build((lo + hi) / 2)
    units = np.arange(n)
    humans = (np.tile(units, m), np.repeat(np.arange(m), n), h.ravel())
    return Pilot("assumed LLM", "assumed", dim, ll, y, humans, units, ll, units)


def _halfwidths(p: Pilot, n: int, stats: list[str], reps: int, n_boot: int, rng) -> dict[str, list[float]]:
    """Interval half-widths of ``reps`` simulated studies of n labelled conversations. ``ppi_mean``: the PPI++
    interval of the human mean with the LLM's scores of the pilot's unlabelled conversations (the same pool in
    every study)."""
    from .stats.corrected import ppi_mean_estimate
    from .stats.paired import paired_statistics

    out: dict[str, list[float]] = {s: [] for s in stats}
    paired = [s for s in stats if s != "ppi_mean"]
    unlabelled = np.asarray(p.llm_values, dtype=float)[~np.isin(p.llm_units, p.units)]
    N = p.x.size
    for r in range(reps):
        idx = rng.integers(0, N, n)
        rows = paired_statistics(p.x[idx], p.y[idx], level=p.dimension.level,
                                 option_values=p.dimension.distinct_values, statistics=paired, n_boot=n_boot,
                                 seed=int(rng.integers(2**31))) if paired else []
        for row in rows:
            if math.isfinite(row.ci_low) and math.isfinite(row.ci_high):
                out[row.statistic].append((row.ci_high - row.ci_low) / 2)
        if "ppi_mean" in stats:
            e = ppi_mean_estimate(p.y[idx], p.x[idx], unlabelled)
            if math.isfinite(e.ci_low) and math.isfinite(e.ci_high):
                out["ppi_mean"].append((e.ci_high - e.ci_low) / 2)
    return out


def _fit(ns: list[int], hs: list[float]) -> tuple[float, float]:
    """Least squares on log h = a + b log n (b kept in [-1, -0.25]; one size: b = -1/2). Returns (a, b)."""
    ln, lh = np.log(np.asarray(ns, dtype=float)), np.log(np.asarray(hs, dtype=float))
    b = float(np.polyfit(ln, lh, 1)[0]) if len(ns) > 1 else -0.5
    b = min(max(b, -1.0), -0.25)
    return float(np.mean(lh - b * ln)), b


def _alt_power(p: Pilot, n: int, reps: int, epsilon: float, rng, humans: int | None = None) -> float:
    """Share of ``reps`` simulated studies (n conversations drawn with their human ratings; with ``humans``, the
    ratings of that many of the pilot's humans, drawn at random per study) in which the alt-test passes."""
    from .stats.alt_test import alt_test, scoring_for_level

    conv, rat, val = (np.asarray(a) for a in p.humans)
    if humans is not None:
        keep = np.isin(rat, rng.choice(np.unique(rat), humans, replace=False))
        conv, rat, val = conv[keep], rat[keep], val[keep]
    items = np.intersect1d(np.unique(conv), p.llm_units)
    order = np.argsort(conv, kind="stable")
    conv, rat, val = conv[order], rat[order], val[order]
    start = np.searchsorted(conv, items)
    stop = np.searchsorted(conv, items, side="right")
    llm_of = dict(zip(p.llm_units.tolist(), p.llm_values.tolist()))
    passed = 0
    for _ in range(reps):
        pick = rng.integers(0, items.size, n)
        seg = [np.arange(start[k], stop[k]) for k in pick]
        lens = np.array([s.size for s in seg])
        rows = np.concatenate(seg)
        new_item = np.repeat(np.arange(n), lens)
        res = alt_test(new_item, rat[rows], val[rows], np.arange(n), np.array([llm_of[int(items[k])] for k in pick]),
                       scoring=scoring_for_level(p.dimension.level), epsilon=epsilon)
        passed += res.passed == 1
    return passed / reps


def _ceiling(p: Pilot, sizes: list[int], opts: PlanOptions, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The humans' own agreement (Krippendorff's alpha among K annotators per conversation) by study size, for each
    K the pilot supports (conversations with at least K ratings; K of them drawn at random per conversation)."""
    from .stats.multirater import multirater_statistics

    conv, val = np.asarray(p.humans[0]), np.asarray(p.humans[2], dtype=float)
    order = np.argsort(conv, kind="stable")
    conv, val = conv[order], val[order]
    items, start, counts = np.unique(conv, return_index=True, return_counts=True)
    rows, rec = [], []
    for k in range(2, min(int(counts.max(initial=0)), 5) + 1):
        ok = np.flatnonzero(counts >= k)
        if ok.size < 5:
            continue
        ns, hs = [], []
        for n in sizes:
            widths = []
            for _ in range(opts.reps):
                pick = ok[rng.integers(0, ok.size, n)]
                # k of each picked conversation's ratings, at random
                keys = rng.random((n, int(counts[pick].max())))
                keys[np.arange(keys.shape[1])[None, :] >= counts[pick, None]] = 2.0    # past its ratings: last
                take = (start[pick, None] + np.argsort(keys, axis=1)[:, :k]).ravel()
                r = multirater_statistics(np.repeat(np.arange(n), k), np.tile(np.arange(k), n), val[take],
                                          level=p.dimension.level, option_values=p.dimension.distinct_values,
                                          statistics=["krippendorff_alpha"], n_boot=opts.n_boot,
                                          seed=int(rng.integers(2**31)))[0]
                if math.isfinite(r.ci_low) and math.isfinite(r.ci_high):
                    widths.append((r.ci_high - r.ci_low) / 2)
            h = float(np.mean(widths)) if widths else np.nan
            rows.append({"annotators": k, "n": n, "halfwidth": h, "reps": len(widths)})
            if widths and h > 0:
                ns.append(n)
                hs.append(h)
        if ns:
            a, b = _fit(ns, hs)
            rec.append({"annotators": k, "target": opts.target,
                        "recommended_n": max(2, math.ceil(math.exp((math.log(opts.target) - a) / b))),
                        "pilot_conversations": int(ok.size)})
    return (pd.DataFrame(rows, columns=["annotators", "n", "halfwidth", "reps"]),
            pd.DataFrame(rec, columns=["annotators", "target", "recommended_n", "pilot_conversations"]))


def _ppi_effective(p: Pilot) -> dict:
    from .stats.corrected import ppi_mean_estimate

    fu = np.asarray(p.llm_values, dtype=float)[~np.isin(p.llm_units, p.units)]
    e = ppi_mean_estimate(p.y, p.x, fu)
    n = int(p.y.size)
    eff = n * (e.classical_se / e.se) ** 2 if e.se and e.se > 0 and math.isfinite(e.se) else float("nan")
    return {"labelled": n, "unlabelled": int(fu.size), "lambda": e.lam, "effective_n": eff,
            "note": ("the LLM scores of the unlabelled conversations add nothing here (lambda = 0 or none)"
                     if not fu.size or not e.lam else
                     f"{n} human labels plus the LLM's {fu.size} unlabelled scores are worth {eff:.0f} human labels "
                     "for the mean (PPI++)")}


def plan(store: Store | None, opts: PlanOptions | None = None, **kw) -> dict:
    """``{"pilot", "recommended", "curve", "alt_test", "alt_test_note", "ceiling_curve", "ceiling", "ppi"}``; with
    ``assume_alpha`` the pilot is synthetic and ``store`` may be None."""
    opts = opts or PlanOptions(**kw)
    if not opts.target > 0:
        raise AuditorError(f"--target-halfwidth {opts.target!r}: give a positive number (e.g. 0.05).")
    bad = [s for s in opts.statistics if s not in PLAN_STATISTICS]
    if bad:
        raise AuditorError(f"cannot plan for {bad[0]!r}. Fix: use one of {', '.join(PLAN_STATISTICS)}.")
    p = _assumed_pilot(opts) if opts.assume_alpha is not None else _pilot(store, opts)
    N = p.x.size
    rng = np.random.default_rng(opts.seed)
    sizes = sorted(set(opts.sizes or [max(10, int(N * f)) for f in (0.25, 0.5, 1, 2, 4)]))
    curve, fits = [], {s: ([], []) for s in opts.statistics}
    for n in sizes:
        hw = _halfwidths(p, n, opts.statistics, opts.reps, opts.n_boot, rng)
        for s, hs in hw.items():
            curve.append({"statistic": s, "n": n, "halfwidth": float(np.mean(hs)) if hs else np.nan,
                          "halfwidth_sd": float(np.std(hs)) if hs else np.nan, "reps": len(hs)})
            if hs and np.mean(hs) > 0:
                fits[s][0].append(n)
                fits[s][1].append(float(np.mean(hs)))
    rec = []
    for s in opts.statistics:
        ns, hs = fits[s]
        if not ns:
            rec.append({"statistic": s, "target": opts.target, "recommended_n": None, "check_halfwidth": np.nan,
                        "note": "no size to recommend: the interval is undefined or has zero width at every size "
                                "(e.g. the LLM and the humans always agree in the pilot)"})
            continue
        a, b = _fit(ns, hs)
        n_star = max(2, math.ceil(math.exp((math.log(opts.target) - a) / b)))
        tried = dict(zip(ns, hs))
        for _ in range(3):          # check by simulation; off by > 5 %: step along the fitted slope and recheck
            if n_star in tried:
                break
            check = _halfwidths(p, n_star, [s], opts.reps, opts.n_boot, rng)[s]
            if not check:
                break
            h_star = float(np.mean(check))
            tried[n_star] = h_star
            curve.append({"statistic": s, "n": n_star, "halfwidth": h_star, "halfwidth_sd": float(np.std(check)),
                          "reps": len(check)})
            if h_star <= 0 or abs(h_star - opts.target) <= 0.05 * opts.target:
                break
            n_star = max(2, math.ceil(n_star * (opts.target / h_star) ** (1 / b)))
        # the smallest simulated size that reaches the target (within 5 %), else the best one tried
        ok = sorted(n for n, h in tried.items() if h <= 1.05 * opts.target)
        fit_note = f"fit log h = a + b log n over {len(ns)} sizes (b = {b:.2f})"
        if ok:
            n_rec = ok[0]
            note = (f"{fit_note}; the smallest simulated size reaching the target: {opts.reps} studies at n = {n_rec} "
                    f"gave a mean half-width of {tried[n_rec]:.4f}")
        else:
            n_rec = max(tried)
            note = (f"not reached: the narrowest simulated half-width is {min(tried.values()):.4f} (at n = "
                    f"{min(tried, key=tried.get)}); it may level off (e.g. a PPI interval is bounded by the LLM's "
                    f"fixed unlabelled pool). Fix: simulate larger --sizes, or relax --target-halfwidth")
        rec.append({"statistic": s, "target": opts.target, "recommended_n": n_rec if ok else None,
                    "check_halfwidth": tried[n_rec], "note": note})
    alt, alt_note = [], ""
    conv_h, rat_h = np.asarray(p.humans[0]), np.asarray(p.humans[1])
    per_item = np.unique(conv_h, return_counts=True)[1]
    if opts.alt_test and (per_item.max(initial=0) < 2 or np.unique(rat_h).size < 3):
        alt_note = (f"alt-test power not simulated: it needs items with at least two human ratings and at least 3 "
                    f"humans; the pilot has at most {per_item.max(initial=0)} rating(s) per conversation from "
                    f"{np.unique(rat_h).size} human(s). Label some conversations twice (`auditor annotate create ... "
                    "--overlap 2`) to get a ceiling and the alt-test.")
    elif opts.alt_test:
        n_humans = int(np.unique(rat_h).size)
        for h in range(3, min(n_humans, 6) + 1):        # all humans, and fewer down to the test's minimum of 3
            for n in sizes:
                alt.append({"humans": h, "n": n, "power": _alt_power(p, n, opts.reps, opts.epsilon, rng,
                                                                     None if h == n_humans else h),
                            "reps": opts.reps, "epsilon": opts.epsilon})
    return {
        "pilot": {"rater": p.rater, "rubric": p.rubric, "dimension": p.dimension.name, "level": p.dimension.level,
                  "n": int(N), "humans_per_conversation": float(np.mean(np.unique(np.asarray(p.humans[0]),
                                                                                  return_counts=True)[1])),
                  "note": (f"no pilot: {N} synthetic conversations with alpha {opts.assume_alpha:g} on "
                           f"{opts.assume_levels} ordinal options, {opts.assume_annotators} human(s) each (latent "
                           "normal score plus noise); simulated studies draw them with replacement"
                           if opts.assume_alpha is not None else
                           "the pilot's conversations are treated as a simple random sample of those to be rated; "
                           "simulated studies draw them with replacement")},
        "recommended": pd.DataFrame(rec, columns=["statistic", "target", "recommended_n", "check_halfwidth",
                                                  "note"]),
        "curve": pd.DataFrame(curve, columns=["statistic", "n", "halfwidth", "halfwidth_sd", "reps"]
                              ).sort_values(["statistic", "n"]).reset_index(drop=True),
        "alt_test": pd.DataFrame(alt, columns=["humans", "n", "power", "reps", "epsilon"]),
        "alt_test_note": alt_note,
        **dict(zip(("ceiling_curve", "ceiling"), _ceiling(p, sizes, opts, rng))),
        "ppi": _ppi_effective(p),
    }

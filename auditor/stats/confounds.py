"""Confounds: does the LLM's error grow with conversation length?

``confound_slope_length`` and ``confound_slope_turns`` are the ordinary-least-squares slope of
d = LLM score - human consensus (per conversation) on the conversation's length: characters (reported **per 1,000
characters**) and turn count (per turn). 0 = the LLM's bias does not change with length; > 0 the LLM grows more
lenient relative to humans on longer conversations (a verbosity/length bias), < 0 more severe. Read it with
``mean_diff`` (the intercept-free average bias). The slope is in scale points; its interval is a bootstrap over
conversations (the slope is a function of the per-conversation sums of 1, z, d, z^2, z*d).

slope = sum (z - mean z)(d - mean d) / sum (z - mean z)^2; undefined (NaN with the reason) when every conversation
has the same length or fewer than 3 conversations have a length.
"""

from __future__ import annotations

import numpy as np

from ._bootstrap import ANALYTIC_ABOVE, bootstrap_sums
from ._registry import register
from ._result import StatRow

__all__ = ["confound_slope", "confound_slopes", "CONFOUNDS"]

NOT_NOMINAL = ("binary", "ordinal", "interval", "ratio")
# statistic -> (conversations column, divisor, unit text)
CONFOUNDS = {"confound_slope_length": ("n_chars", 1000.0, "per 1,000 characters"),
             "confound_slope_turns": ("n_turns", 1.0, "per turn")}


def _slope(s):
    n, z, d, zz, zd = (s[:, j] for j in range(5))
    with np.errstate(invalid="ignore", divide="ignore"):
        sxx = zz - z * z / n
        sxy = zd - z * d / n
        return np.where(sxx > 1e-12 * np.maximum(zz, 1.0), sxy / sxx, np.nan)


@register("confound_slope_length", kind="confound", levels=NOT_NOMINAL, higher_is_better=None, maximum=0.0,
          doc="OLS slope of (LLM - human) on conversation length, per 1,000 characters.")
def confound_slope(d, z, *, statistic: str = "confound_slope_length", n_boot: int = 1000, seed: int | None = 0,
                   ci_method: str = "percentile", confidence: float = 0.95) -> StatRow:
    """OLS slope of ``d`` (LLM - human per conversation) on ``z`` (the raw covariate: characters or turns).

    ``statistic`` picks the covariate's scaling from :data:`CONFOUNDS` (characters are divided by 1,000).
    Conversations with a missing ``d`` or ``z`` are dropped (the note counts them).

    Examples
    --------
    >>> round(confound_slope([0, 1, 2], [1000, 2000, 3000]).value, 6)     # +1 point per 1,000 characters
    1.0
    >>> round(confound_slope([0, 1, 2], [2, 4, 6], statistic="confound_slope_turns").value, 6)
    0.5
    """
    return confound_slopes(d, {statistic: z}, n_boot=n_boot, seed=seed, ci_method=ci_method,
                           confidence=confidence)[0]


def confound_slopes(d, covariates: dict, *, n_boot: int = 1000, seed: int | None = 0, ci_method: str = "percentile",
                    confidence: float = 0.95) -> list[StatRow]:
    """Several confound slopes of the same ``d`` in one bootstrap (the same resamples for every covariate).

    ``covariates`` maps a statistic name of :data:`CONFOUNDS` to the raw covariate (one element per conversation).
    """
    d = np.asarray(d, dtype=float)
    names = list(covariates)
    blocks, rows, ready = [], {}, []
    for name in names:
        if name not in CONFOUNDS:
            raise LookupError(f"unknown confound statistic '{name}'; use {', '.join(CONFOUNDS)}")
        _, scale, _ = CONFOUNDS[name]
        z = np.asarray(covariates[name], dtype=float)
        if d.shape != z.shape:
            raise ValueError(f"d and z need one element per conversation; got {d.shape} and {z.shape}")
        ok = ~(np.isnan(d) | np.isnan(z))
        dropped = int(ok.size - ok.sum())
        drop = f"; {dropped} conversation(s) without a length dropped" if dropped else ""
        zs = np.where(ok, z / scale, 0.0)
        ds = np.where(ok, d, 0.0)
        n_ok = int(ok.sum())
        if n_ok < 3:
            rows[name] = StatRow(name, np.nan, n=n_ok, note=f"undefined: {n_ok} conversation(s) with a length; a "
                                 f"slope needs >= 3{drop}")
        elif np.all(zs[ok] == zs[ok][0]):
            rows[name] = StatRow(name, np.nan, n=n_ok, note=f"undefined: every conversation has the same length "
                                 f"({zs[ok][0] * scale:g}){drop}")
        else:
            blocks.append(np.column_stack([ok.astype(float), zs, ds, zs * zs, zs * ds]))
            ready.append((name, n_ok, drop))
    if ready:
        C = np.hstack(blocks)
        k = len(ready)
        res = bootstrap_sums(C, lambda s: np.column_stack([_slope(s[:, 5 * j:5 * j + 5]) for j in range(k)]),
                             n_boot=n_boot, seed=seed, method=ci_method, confidence=confidence,
                             allow_analytic=True)
        for j, (name, n_ok, drop) in enumerate(ready):
            unit = CONFOUNDS[name][2]
            ci = ("no interval" if n_boot <= 0 else
                  f"delta-method normal interval over {res.n_units} conversations (B x distinct unit "
                  f"contributions above {ANALYTIC_ABOVE:,}: resampling skipped)" if res.method == "delta" else
                  f"{'BCa' if ci_method == 'bca' else 'percentile'} bootstrap over {res.n_units} conversations, "
                  f"B={n_boot}")
            note = (f"OLS slope of (LLM - human consensus) in scale points {unit}; > 0 the LLM is relatively more "
                    f"lenient on longer conversations; {ci}{drop}")
            if res.n_invalid.size and res.n_invalid[j]:
                note += f"; {int(res.n_invalid[j])} resamples with constant length left out of the interval"
            rows[name] = StatRow(name, float(res.value[j]), float(res.ci_low[j]), float(res.ci_high[j]), n_ok, note)
    return [rows[n] for n in names]


register("confound_slope_turns", kind="confound", levels=NOT_NOMINAL, higher_is_better=None, maximum=0.0,
         doc="OLS slope of (LLM - human) on the conversation's turn count, per turn.")(confound_slope)

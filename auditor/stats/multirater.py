"""Reliability among many raters with missing data: Krippendorff's alpha, Fleiss' kappa, Gwet's AC1/AC2, ICC.

Typical use: the human raters of one rubric dimension (the human ceiling an LLM judge is compared with).
:func:`multirater_statistics` takes long-format ratings and returns one :class:`~auditor.stats._result.StatRow`
per statistic, with a bootstrap interval over units computed for all resamples at once (per-unit contributions
-> resampled sums -> statistic; see ``_bootstrap.py``). The plain functions (:func:`krippendorff_alpha`,
:func:`fleiss_kappa`, :func:`gwet_ac1`, :func:`gwet_ac2`, :func:`percent_agreement`, :func:`icc`,
:func:`chance_corrected_agreement`, in :mod:`._coefficients`, re-exported here) compute point estimates from
matrices, for direct use and reference tests.

How to read the numbers
-----------------------
* Krippendorff's alpha, Fleiss' kappa, Gwet's AC1/AC2: 1 = perfect agreement, 0 = agreement expected by chance,
  < 0 = systematic disagreement. They differ in what "chance" is: alpha and kappa use the observed prevalence of
  each value, so with a rare category (a flag that is 0 for 95% of items) they can be near 0 even when raters
  agree on almost every item ("kappa paradox"); AC1 uses a chance model that stays high there. Report both and
  the prevalence.
* ICC: the share of rating variance due to real differences between units. ICC(2,1) (absolute agreement)
  penalises raters who are systematically harsher or more lenient; ICC(3,1) (consistency) does not; a large gap
  between them means rater bias. The "k" forms are the reliability of the *mean* of the k ratings.
"""

from __future__ import annotations

import math

import numpy as np

from . import _icc
from . import _multirater_alpha as _alpha_mr
from . import _multirater_cac as _cac
from ._bootstrap import confidence_interval
from ._coefficients import (LEVELS, MAX_CATEGORIES, category_counts, chance_corrected_agreement, fleiss_kappa,
                            gwet_ac1, gwet_ac2, icc, krippendorff_alpha, percent_agreement)
from ._multirater_boot import bootstrap_types
from ._multirater_data import (
    LongRatings,
    UnitTypes,
    parse_long,
    rater_types,
    unit_types,
)
from ._registry import get as _get_spec
from ._registry import names as _names
from ._registry import register
from ._result import StatRow

__all__ = ["multirater_statistics", "krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "gwet_ac2",
           "percent_agreement", "chance_corrected_agreement", "category_counts", "icc", "AC2_WEIGHTS",
           "MAX_CATEGORIES"]

#: Gwet AC2 weights used for each level of measurement (Gwet 2014, ch. 3; irrCAC weight names).
AC2_WEIGHTS = {"binary": "identity", "nominal": "identity", "ordinal": "ordinal", "interval": "quadratic",
               "ratio": "quadratic"}

_UNDEFINED_REASON = {
    "krippendorff_alpha": "no variation among the pairable values (expected disagreement is 0)",
    "fleiss_kappa": "chance agreement is 1 (all ratings of the units used fall in one category)",
    "gwet_ac1": "all ratings of the units used fall in one category",
    "gwet_ac2": "all ratings of the units used fall in one category",
    "icc1": "no variation among the ratings of units with two or more ratings",
    "icc1k": "no variation among the ratings of units with two or more ratings",
    "icc2": ("no variation among the ratings of the complete units, or a non-positive denominator in the ANOVA "
             "estimator (a negative variance-component estimate: error variance dominates)"),
}
_NAMES = ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "gwet_ac2", "icc", "icc1", "icc2", "icc3", "icc1k",
          "icc2k", "icc3k")
_ICC_TWOWAY = ("icc", "icc2", "icc3", "icc2k", "icc3k")
_ICC_ONEWAY = ("icc1", "icc1k")
_METRIC_TEXT = {"binary": "nominal metric", "nominal": "nominal metric",
                "ordinal": "ordinal metric (Krippendorff's rank-based distances from the value frequencies)",
                "interval": "interval metric (squared differences)",
                "ratio": "ratio metric (((c - k) / (c + k))^2)"}


# ---------------------------------------------------------------------------------------------------------------
# the long-format entry point


def multirater_statistics(units, raters, values, *, level: str, option_values=None, statistics=None,
                          n_boot: int = 1000, seed: int | None = 0, ci_method: str = "percentile",
                          confidence: float = 0.95) -> list[StatRow]:
    """Agreement among many raters, with missing data, and bootstrap intervals over units.

    Parameters
    ----------
    units, raters : array-like of hashables, length N
        Which unit (conversation, item) and which rater each rating belongs to. One rating per (unit, rater).
    values : array-like of float, length N
        The numeric ratings; NaN = missing (the pair is ignored).
    level : {"binary", "nominal", "ordinal", "interval", "ratio"}
        Level of measurement of the dimension: sets alpha's distance metric and AC2's weights
        (:data:`AC2_WEIGHTS`).
    option_values : array-like of float, optional
        Every value the scale allows (the rubric's options), including ones nobody used. Only Gwet's AC1/AC2
        depend on it (through the number of categories q and, for AC2, the weights); without it the observed
        values are the categories. Every observed value must be one of them.
    statistics : list of str, optional
        Names among ``krippendorff_alpha``, ``fleiss_kappa``, ``gwet_ac1``, ``gwet_ac2``, ``icc`` (= ICC(2,1)),
        ``icc1``, ``icc2``, ``icc3``, ``icc1k``, ``icc2k``, ``icc3k``. Default: every multi-rater statistic
        registered for ``level``.
    n_boot : int
        Bootstrap resamples of units (0 = no interval).
    seed : int or None
        Seed of the resampling; equal seeds give equal intervals.
    ci_method : {"percentile", "bca"}
    confidence : float
        Interval coverage, e.g. 0.95.

    Returns
    -------
    list of StatRow
        One row per statistic, in the order asked: ``value``, ``ci_low``/``ci_high`` (bootstrap over units),
        ``n`` (units the statistic used) and ``note`` (level, method, how missing ratings were handled, CI
        method, and for NaN the reason).

    Notes
    -----
    Missing data, per statistic:

    * alpha: every unit with >= 2 ratings (units with one rating are not pairable and drop out).
    * Fleiss' kappa, Gwet's AC1/AC2 (irrCAC conventions): percent agreement over units with >= 2 ratings,
      category prevalence averaged over units with >= 1 rating.
    * ``icc1``/``icc1k``: one-way ANOVA over units with >= 2 ratings; with unequal numbers of ratings the
      unbalanced estimator with k0 = (N - sum m_i^2 / N) / (n - 1) ratings per unit (``icc1k`` is then the
      reliability of a mean of k0 ratings).
    * ``icc``/``icc2``/``icc3``/``icc2k``/``icc3k``: two-way ANOVA on the units rated by *every* rater
      (complete-case, as pingouin's ``nan_policy="omit"``). These forms assume the same raters rate every
      unit; when raters are interchangeable slots (different people per unit, as in crowd-sourced data) use
      alpha or ``icc1``.

    Continuous ratings (many distinct values): interval alpha and the ICCs use per-unit moments, so memory stays
    O(units); nominal and ordinal alpha are resampled chunk by chunk from sparse counts (exact, but about
    O(B x ratings) time; BCa falls back to percentile there); ratio alpha is limited to 5,000 distinct values;
    Fleiss' kappa and Gwet's AC1/AC2 need a categorical scale (at most :data:`MAX_CATEGORIES` values).

    Degenerate input (one rater, all ratings equal, fewer than two units with two ratings, no complete unit for
    the two-way ICC, too many distinct values for a categorical coefficient) gives NaN with the reason in the
    note, never a number. Resamples where a statistic is undefined are left out of its interval and counted in
    the note.

    Examples
    --------
    >>> rows = multirater_statistics(["a", "a", "b", "b", "c", "c"], [1, 2, 1, 2, 1, 2], [1, 1, 2, 2, 3, 3],
    ...                              level="interval", statistics=["krippendorff_alpha"], n_boot=0)
    >>> rows[0].value
    1.0
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level '{level}'; use one of {', '.join(LEVELS)}")
    if ci_method not in ("percentile", "bca"):
        raise ValueError(f"ci_method must be 'percentile' or 'bca', not '{ci_method}'")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), not {confidence}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, not {n_boot}")
    valid = [name for name in _names("multirater") if name in _NAMES]
    if statistics is None:
        statistics = [name for name in valid if level in _get_spec(name, "multirater").levels]
    else:
        statistics = [statistics] if isinstance(statistics, str) else list(statistics)
        for name in statistics:
            if name not in valid:
                raise LookupError(f"unknown multi-rater statistic '{name}'; valid names are: {', '.join(valid)}")
    data = parse_long(units, raters, values)
    if level == "binary" and data.values.size > 2:
        raise ValueError(f"level='binary' but {data.values.size} distinct values were found "
                         f"({', '.join(f'{v:g}' for v in data.values[:5])}...); use level='nominal'")
    if level == "ratio" and data.values.size and data.values[0] < 0:
        raise ValueError(f"level='ratio' needs non-negative values; found {data.values[0]:g}")
    cats = None
    if option_values is not None:
        cats, _ = _cac.category_index(data.values, option_values)
    ctx = _Context(data, level, cats, int(n_boot), seed, ci_method, confidence)
    results = {}
    results.update(ctx.exchangeable([s for s in statistics if s not in _ICC_TWOWAY]))
    results.update(ctx.twoway([s for s in statistics if s in _ICC_TWOWAY]))
    return [results[name] for name in statistics]


class _Context:
    """Shared facts about one call and the two families of statistics it computes."""

    def __init__(self, data: LongRatings, level, categories, n_boot, seed, ci_method, confidence):
        self.data, self.level, self.categories = data, level, categories
        self.n_boot, self.seed, self.ci_method, self.confidence = n_boot, seed, ci_method, confidence
        m = data.m
        self.n_units = data.n_units
        self.n_rated = int(np.sum(m >= 1))
        self.n_pairable = int(np.sum(m >= 2))
        self.n_ratings = int(data.unit.size)
        self.center = data.center

    # -- notes ---------------------------------------------------------------------------------------------
    def _ci_text(self, n_invalid: int = 0, fallback: str | None = None) -> str:
        if self.n_boot == 0:
            return "no interval (n_boot=0)"
        method = fallback or self.ci_method
        text = f"{self.confidence:.0%} {method} bootstrap CI over units (B={self.n_boot}, seed={self.seed})"
        if n_invalid:
            text += f"; {n_invalid} of {self.n_boot} resamples undefined and left out"
        return text

    def _data_text(self) -> str:
        text = f"{self.n_units} units, {self.data.n_raters} raters, {self.n_ratings} ratings"
        if self.n_rated < self.n_units:
            empty = self.n_units - self.n_rated
            text += f" ({empty} unit{'s' if empty > 1 else ''} with no rating ignored)"
        return text

    def _common_reason(self) -> str | None:
        d = self.data
        if self.n_ratings == 0:
            return "no ratings (all values missing)"
        if d.n_raters < 2:
            return "only one rater: agreement among raters needs at least two"
        if self.n_pairable == 0:
            return "no unit has two ratings"
        if self.n_pairable < 2:
            return "fewer than two units have two or more ratings (n < 2)"
        if d.values.size < 2:
            return (f"all ratings are equal ({d.values[0]:g}): with no variation, agreement beyond chance is "
                    "undefined")
        return None

    def _nan_row(self, name: str, reason: str, method: str, n: int = 0) -> StatRow:
        return StatRow(name, math.nan, math.nan, math.nan, n,
                       f"undefined: {reason}; level={self.level}; {method}; {self._data_text()}")

    # -- alpha, Fleiss, Gwet, one-way ICC: raters interchangeable --------------------------------------------
    def exchangeable(self, names: list[str]) -> dict:
        if not names:
            return {}
        out = {}
        reason = self._common_reason()
        methods = {name: self._method_text(name) for name in names}
        if reason is not None:
            return {name: self._nan_row(name, reason, methods[name]) for name in names}
        types = unit_types(self.data)
        parts = []   # (name, contributions, finalize, n, extra note)
        for name in names:
            if name == "krippendorff_alpha":
                part = self._alpha_part(types)
                if isinstance(part, StatRow):
                    out[name] = part
                else:
                    parts.append(part)
            elif name in ("fleiss_kappa", "gwet_ac1", "gwet_ac2"):
                part = self._cac_part(name, types)
                if isinstance(part, StatRow):
                    out[name] = part
                else:
                    parts.append(part)
            elif name in _ICC_ONEWAY:
                parts.append(self._oneway_part(name, types))
        if parts:
            widths = [p[1].shape[1] for p in parts]
            edges = np.concatenate([[0], np.cumsum(widths)])
            contrib = np.hstack([p[1] for p in parts])

            def finalize(sums):
                sums = np.atleast_2d(sums)
                return np.column_stack([p[2](sums[:, edges[i]:edges[i + 1]]) for i, p in enumerate(parts)])

            res = bootstrap_types(contrib, finalize, types.weight, n_boot=self.n_boot, seed=self.seed,
                                  method=self.ci_method, confidence=self.confidence)
            for i, (name, _, _, n, extra) in enumerate(parts):
                out[name] = self._row(name, res.value[i], res.ci_low[i], res.ci_high[i], n,
                                      int(res.n_invalid[i]) if res.n_invalid.size else 0, extra)
        return out

    def _row(self, name, value, lo, hi, n, n_invalid, extra, fallback=None) -> StatRow:
        method = self._method_text(name)
        if not np.isfinite(value):
            return self._nan_row(name, _UNDEFINED_REASON.get(name, _UNDEFINED_REASON["icc2"]), method, n)
        note = f"level={self.level}; {method}; {self._data_text()}"
        if extra:
            note += f"; {extra}"
        note += f"; {self._ci_text(n_invalid, fallback)}"
        return StatRow(name, float(value), float(lo), float(hi), int(n), note)

    def _method_text(self, name: str) -> str:
        lvl = self.level
        if name == "krippendorff_alpha":
            return f"Krippendorff's alpha, {_METRIC_TEXT[lvl]}"
        unordered = "" if lvl in ("binary", "nominal") else "; values treated as unordered categories"
        if name == "fleiss_kappa":
            return "Fleiss' kappa (irrCAC generalisation for unequal numbers of raters per unit)" + unordered
        if name == "gwet_ac1":
            return "Gwet's AC1 (irrCAC gwet.ac1.raw conventions)" + unordered
        if name == "gwet_ac2":
            scheme = AC2_WEIGHTS[lvl]
            same = "; identity weights: equals AC1" if scheme == "identity" else ""
            return f"Gwet's AC2, {scheme} weights for level {lvl} (irrCAC weights){same}"
        sf, mw, desc = _icc.FORMS["icc2" if name == "icc" else name]
        codes = {"binary": "; codes treated as numbers", "nominal": "; nominal codes treated as numbers",
                 "ordinal": "; ordinal codes treated as interval values"}.get(lvl, "")
        return f"{sf} / {mw}: {desc}{codes}"

    def _alpha_part(self, types: UnitTypes):
        lvl = self.level
        extra = (f"{self.n_pairable} of {self.n_rated} rated units pairable (>= 2 ratings); "
                 f"{self.n_rated - self.n_pairable} with one rating drop out")
        if lvl == "interval":
            return ("krippendorff_alpha", _alpha_mr.moment_contributions(types, self.center),
                    _alpha_mr.alpha_from_moments, self.n_pairable, extra)
        if _alpha_mr.uses_coincidence(types):
            return ("krippendorff_alpha", _alpha_mr.coincidence_contributions(types),
                    _alpha_mr.coincidence_finalize(types.values, lvl), self.n_pairable, extra)
        # many distinct values: the large-V route, with its own resampling
        if lvl == "ratio" and _alpha_mr.ratio_too_many_values(types):
            return self._nan_row("krippendorff_alpha", f"the ratio metric is limited to "
                                 f"{_alpha_mr.RATIO_MAX_VALUES} distinct values ({types.values.size} found); round "
                                 "the values or use level='interval'", self._method_text("krippendorff_alpha"),
                                 self.n_pairable)
        rng = np.random.default_rng(self.seed) if self.n_boot > 0 else None
        value, samples = _alpha_mr.alpha_large_v(types, lvl, n_boot=self.n_boot, rng=rng)
        fallback = None
        extra += f"; {types.values.size} distinct values: resampled in chunks"
        if self.n_boot > 0:
            if self.ci_method == "bca":
                fallback = "percentile (BCa needs a jackknife, too costly with this many distinct values)"
            lo, hi, n_inv = confidence_interval(samples[:, None], np.array([value]), confidence=self.confidence)
            lo, hi, n_inv = lo[0], hi[0], int(n_inv[0])
        else:
            lo = hi = math.nan
            n_inv = 0
        return self._row("krippendorff_alpha", value, lo, hi, self.n_pairable, n_inv, extra, fallback)

    def _cac_part(self, name: str, types: UnitTypes):
        method = self._method_text(name)
        V = types.values.size
        if V > MAX_CATEGORIES:
            return self._nan_row(name, f"{V} distinct values: not a categorical scale (more than "
                                 f"{MAX_CATEGORIES} categories); use krippendorff_alpha or icc", method,
                                 self.n_pairable)
        cats, idx = _cac.category_index(types.values, self.categories)
        scheme = AC2_WEIGHTS[self.level] if name == "gwet_ac2" else "identity"
        w_full = _cac.weight_matrix(cats, scheme)
        w_obs = w_full[np.ix_(idx, idx)]
        kind = {"fleiss_kappa": "fleiss", "gwet_ac1": "gwet", "gwet_ac2": "gwet_weighted"}[name]
        fin = _cac.cac_finalize(kind, cats.size, float(w_full.sum()))
        source = "option_values" if self.categories is not None else "the observed values"
        extra = (f"pa over {self.n_pairable} units with >= 2 ratings, category prevalence over {self.n_rated} "
                 f"rated units")
        if name != "fleiss_kappa":
            extra += f"; q={cats.size} categories from {source}"
        return (name, _cac.cac_contributions(types, w_obs), fin, self.n_pairable, extra)

    def _oneway_part(self, name: str, types: UnitTypes):
        s, q = types.moments(self.center)
        contrib = _icc.oneway_contributions(types.m, s, q)
        pair = types.m >= 2
        ms = _icc.oneway_forms(types.weight @ contrib)
        k0 = float(ms["k0"][0])
        R = self.data.n_raters
        balanced = bool(np.all(types.m[pair] == types.m[pair][0])) if pair.any() else True
        if balanced:
            extra = f"one-way ANOVA on {self.n_pairable} units with >= 2 ratings (balanced, k={k0:.0f})"
        else:
            extra = (f"one-way ANOVA on {self.n_pairable} units with >= 2 ratings, unbalanced: k0={k0:.3f} "
                     f"effective ratings per unit (of {R} raters)")
        if name == "icc1k" and not balanced:
            extra += f"; reliability of the mean of k0={k0:.3f} ratings"

        def finalize(sums, _name=name):
            return _icc.oneway_forms(sums)[_name]

        return (name, contrib, finalize, self.n_pairable, extra)

    # -- two-way ICC: the same raters on every unit ---------------------------------------------------------
    def twoway(self, names: list[str]) -> dict:
        if not names:
            return {}
        reason = self._common_reason()
        if reason is None:
            x, w, nc = rater_types(self.data)
            R = self.data.n_raters
            if nc < 2:
                reason = (f"{nc} of {self.n_units} units were rated by all {R} raters; the two-way ICC needs the "
                          f"same raters on at least two units (complete-case); for interchangeable raters use "
                          f"icc1 or krippendorff_alpha")
        if reason is not None:
            return {name: self._nan_row(name, reason, self._method_text(name)) for name in names}
        contrib = _icc.twoway_contributions(x - self.center)
        counts = w
        dropped = self.n_rated - nc
        if dropped > 0:   # incomplete units stay in the resampling universe, contributing nothing
            contrib = np.vstack([contrib, np.zeros(contrib.shape[1])])
            counts = np.concatenate([w, [dropped]])
        forms = [("icc2" if name == "icc" else name) for name in names]

        def finalize(sums):
            f = _icc.twoway_forms(_icc.twoway_mean_squares(sums))
            return np.column_stack([f[name] for name in forms])

        res = bootstrap_types(contrib, finalize, counts, n_boot=self.n_boot, seed=self.seed,
                              method=self.ci_method, confidence=self.confidence)
        extra = (f"two-way ANOVA on {nc} complete units of {self.n_rated}"
                 + (f"; {dropped} with a missing rater dropped (complete-case, as pingouin nan_policy='omit')"
                    if dropped else "")
                 + f"; assumes the same {R} raters rated every unit")
        out = {}
        for i, name in enumerate(names):
            out[name] = self._row(name, res.value[i], res.ci_low[i], res.ci_high[i], nc,
                                  int(res.n_invalid[i]) if res.n_invalid.size else 0, extra)
        return out


# ---------------------------------------------------------------------------------------------------------------
# registration


def _register(name: str, levels, doc: str, **extra):
    def run(units, raters, values, *, level: str, **kwargs) -> StatRow:
        return multirater_statistics(units, raters, values, level=level, statistics=[name], **kwargs)[0]

    run.__name__ = name
    run.__doc__ = doc
    register(name, kind="multirater", levels=levels, symmetric=True, higher_is_better=True, maximum=1.0,
             doc=doc, **extra)(run)


_register("krippendorff_alpha", LEVELS,
          "Krippendorff's alpha at the level's metric (any number of raters, missing data): 1 perfect, 0 chance, "
          "< 0 systematic disagreement.")
_register("fleiss_kappa", ("binary", "nominal", "ordinal"),
          "Fleiss' kappa (unordered categories, unequal raters per unit as in irrCAC): 1 perfect, 0 chance.")
_register("gwet_ac1", ("binary", "nominal", "ordinal"),
          "Gwet's AC1 (unordered categories; robust to skewed prevalence): 1 perfect, 0 chance.")
_register("gwet_ac2", ("ordinal", "interval", "ratio"),
          "Gwet's AC2 with ordinal (ordinal level) or quadratic (interval, ratio) weights: 1 perfect, 0 chance.")
_register("icc", ("ordinal", "interval", "ratio"),
          "ICC(2,1) = ICC(A,1): two-way random, absolute agreement of single ratings (the headline ICC).",
          shrout_fleiss="ICC(2,1)")
for _name, (_sf, _mw, _desc) in _icc.FORMS.items():
    _register(_name, ("ordinal", "interval", "ratio"), f"{_sf} / {_mw}: {_desc}.", shrout_fleiss=_sf,
              mcgraw_wong=_mw)
del _name, _sf, _mw, _desc

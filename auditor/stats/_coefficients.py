"""Multi-rater agreement coefficients from matrices (point estimates): Krippendorff's alpha, Fleiss' kappa, Gwet's
AC1/AC2, percent and chance-corrected agreement, ICC. For direct use and the reference tests;
:func:`auditor.stats.multirater.multirater_statistics` adds intervals over units (and re-exports these)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from . import _icc
from . import _multirater_alpha as _alpha_mr
from . import _multirater_cac as _cac
from ._multirater_data import UnitTypes, counts_to_types, parse_long, ratings_matrix_to_long, unit_types

__all__ = ["krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "gwet_ac2", "percent_agreement",
           "chance_corrected_agreement", "category_counts", "icc", "MAX_CATEGORIES"]

LEVELS = ("binary", "nominal", "ordinal", "interval", "ratio")
#: Fleiss' kappa and Gwet's AC1/AC2 treat each distinct value as a category; beyond this many they are NaN.
MAX_CATEGORIES = 100


def _undefined(reason: str) -> float:
    warnings.warn(f"statistic undefined: {reason}", RuntimeWarning, stacklevel=3)
    return math.nan


def _types_reason(types: UnitTypes) -> str | None:
    if types.n_types == 0:
        return "no ratings"
    n_pair = types.weight[types.m >= 2].sum()
    if n_pair == 0:
        return "no unit has two ratings"
    if n_pair < 2:
        return "fewer than two units have two or more ratings"
    used = np.asarray((types.counts != 0).sum(axis=0)).ravel() > 0
    if used.sum() < 2:
        return "all ratings are equal: with no variation, agreement beyond chance is undefined"
    return None


def _types_from(ratings, counts, categories, *, units_axis: int = 0) -> UnitTypes:
    if (ratings is None) == (counts is None):
        raise ValueError("give exactly one of ratings (units x raters, NaN = missing) or counts "
                         "(units x categories)")
    if counts is not None:
        return counts_to_types(counts, categories)
    u, r, v = ratings_matrix_to_long(ratings, units_axis=units_axis)
    return unit_types(parse_long(u, r, v))


def krippendorff_alpha(reliability_data=None, level: str = "interval", *, value_counts=None,
                       values=None) -> float:
    """Krippendorff's alpha for any number of raters, with missing data, at a level of measurement.

    Parameters
    ----------
    reliability_data : (M, N) array-like
        M raters (rows) x N units (columns), NaN = missing (the ``krippendorff`` package's layout).
    level : {"nominal", "binary", "ordinal", "interval", "ratio"}
    value_counts : (N, V) array-like, optional
        Instead of ``reliability_data``: how many raters gave each of V values to each unit.
    values : (V,) array-like, optional
        The values of the ``value_counts`` columns (default 0..V-1; matters for interval and ratio).

    Returns
    -------
    float
        1 = perfect reliability, 0 = agreement at chance level, < 0 = systematic disagreement; Krippendorff
        suggests >= 0.8 for firm conclusions and >= 0.667 for tentative ones. NaN (with a RuntimeWarning) when
        fewer than two units are pairable or the data do not vary.

    Notes
    -----
    alpha = 1 - (n - 1) sum_ck o_ck delta_ck / sum_ck n_c n_k delta_ck, with the coincidences
    o_ck = sum_u n_uc (n_uk - [c = k]) / (m_u - 1) over units with m_u >= 2 values. The interval level uses
    per-unit moments, so memory does not grow with the number of distinct values.

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. ASC Departmental Papers 43.

    Examples
    --------
    Example C of Krippendorff (2011): 4 observers, 12 units, missing values.

    >>> nan = float("nan")
    >>> data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    ...         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    ...         [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    ...         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
    >>> round(krippendorff_alpha(data, "nominal"), 3), round(krippendorff_alpha(data, "interval"), 3)
    (0.743, 0.849)
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level '{level}'; use one of {', '.join(LEVELS)}")
    if (reliability_data is None) == (value_counts is None):
        raise ValueError("give exactly one of reliability_data (raters x units) or value_counts (units x values)")
    if value_counts is not None:
        types = counts_to_types(value_counts, values)
        center = float(types.values[types.values.size // 2]) if types.values.size else 0.0
    else:
        u, r, v = ratings_matrix_to_long(reliability_data, units_axis=1)
        data = parse_long(u, r, v)
        types, center = unit_types(data), data.center
    reason = _types_reason(types)
    if reason is not None:
        return _undefined(reason)
    if level == "ratio" and types.values[0] < 0:
        raise ValueError(f"level='ratio' needs non-negative values; found {types.values[0]:g}")
    value = _alpha_mr.alpha_point(types, level, center)
    if math.isnan(value):
        return _undefined("expected disagreement is zero or the ratio metric has too many distinct values")
    return value


def category_counts(ratings, categories=None) -> tuple[np.ndarray, np.ndarray]:
    """(N units x q categories) counts of raters per category, and the categories, from (N x R) ratings.

    ``categories`` (optional) lists every category of the scale; by default the observed values.
    """
    u, r, v = ratings_matrix_to_long(ratings)
    data = parse_long(u, r, v)
    cats, idx = _cac.category_index(data.values, categories)
    counts = np.zeros((data.n_units, cats.size))
    np.add.at(counts, (data.unit, idx[data.vcode]), 1.0)
    return counts, cats


def _cac_value(types: UnitTypes, categories, weights, kind: str) -> float:
    reason = _types_reason(types)
    if reason is not None:
        return _undefined(reason)
    cats, idx = _cac.category_index(types.values, categories)
    if cats.size < 2:
        return _undefined("the scale has a single category")
    w_full = _cac.weight_matrix(cats, weights)
    w_obs = w_full[np.ix_(idx, idx)]
    contrib = _cac.cac_contributions(types, w_obs)
    value = _cac.cac_finalize(kind, cats.size, float(w_full.sum()))(types.weight @ contrib)[0]
    if math.isnan(value):
        return _undefined("chance agreement is 1")
    return float(value)


def fleiss_kappa(counts) -> float:
    """Fleiss' kappa from an (N units x q categories) matrix of rater counts.

    Parameters
    ----------
    counts : (N, q) array-like of non-negative integers
        counts[i, k] = number of raters who put unit i in category k. Row totals may differ (missing ratings):
        then Gwet's generalisation (irrCAC ``fleiss.kappa.raw``) is used: agreement over units with >= 2
        ratings, category proportions averaged over units.

    Returns
    -------
    float
        1 = perfect agreement, 0 = chance (given the observed category proportions), < 0 = worse than chance.
        Low values despite high raw agreement signal a rare category (kappa paradox): compare with
        :func:`gwet_ac1`.

    References
    ----------
    Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. Psychol. Bull. 76(5), 378-382.

    Examples
    --------
    >>> round(fleiss_kappa([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
    ...                     [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
    ...                     [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]), 3)
    0.21
    """
    types = counts_to_types(counts)
    return _cac_value(types, None, "identity", "fleiss")


def gwet_ac1(ratings=None, *, counts=None, categories=None) -> float:
    """Gwet's AC1 for many raters with missing ratings (irrCAC ``gwet.ac1.raw``, unweighted).

    Parameters
    ----------
    ratings : (N units, R raters) array-like, NaN = missing
    counts : (N, q) array-like, optional
        Instead of ``ratings``: raters per category per unit.
    categories : array-like, optional
        Every category of the scale (q matters: pe = sum_k pi_k (1 - pi_k) / (q - 1)); default: observed values
        (with ``counts``: one per column).

    Returns
    -------
    float
        1 = perfect agreement, 0 = chance; robust to skewed prevalence, where kappa and alpha collapse.

    References
    ----------
    Gwet, K. L. (2008). Computing inter-rater reliability and its variance in the presence of high agreement.
    Br. J. Math. Stat. Psychol. 61, 29-48.
    """
    return _cac_value(_types_from(ratings, counts, categories), categories, "identity", "gwet")


def gwet_ac2(ratings=None, *, counts=None, categories=None, weights="quadratic") -> float:
    """Gwet's AC2: AC1 with agreement weights for ordered scales (irrCAC ``gwet.ac1.raw(weights=...)``).

    Parameters
    ----------
    ratings, counts, categories : as in :func:`gwet_ac1`
    weights : {"quadratic", "linear", "ordinal", "bipolar", "identity"} or (q, q) array
        irrCAC's weights: linear/quadratic use the category *values*, ordinal only their *order*.
        :func:`multirater_statistics` uses :data:`AC2_WEIGHTS` (ordinal level -> "ordinal", interval and ratio
        -> "quadratic").

    Returns
    -------
    float
        1 = perfect agreement, 0 = chance; near misses on the scale count as partial agreement.
    """
    types = _types_from(ratings, counts, categories)
    return _cac_value(types, categories, weights, "gwet_weighted")


def percent_agreement(ratings=None, *, counts=None, categories=None, weights="identity") -> float:
    """Share of agreeing rater pairs within units (averaged over units with >= 2 ratings), irrCAC's pa."""
    types = _types_from(ratings, counts, categories)
    if types.weight[types.m >= 2].sum() == 0:
        return _undefined("no unit has two ratings")
    cats, idx = _cac.category_index(types.values, categories)
    w_obs = _cac.weight_matrix(cats, weights)[np.ix_(idx, idx)]
    s = types.weight @ _cac.cac_contributions(types, w_obs)
    return float(s[3] / s[0])


def chance_corrected_agreement(ratings=None, *, counts=None, categories=None, weights="identity",
                               confidence: float = 0.95) -> pd.DataFrame:
    """Fleiss' kappa and Gwet's AC1/AC2 with irrCAC's analytic standard errors and t-intervals.

    Returns a DataFrame with one row per coefficient (``fleiss_kappa``, ``gwet_ac1`` or ``gwet_ac2`` when
    ``weights`` is not identity) and columns value, pa, pe, se, ci_low, ci_high, p_value, n. The interval is
    value -/+ t_{n-1} se, capped at 1 (irrCAC); use :func:`multirater_statistics` for bootstrap intervals.
    """
    types = _types_from(ratings, counts, categories)
    gwet_name = "gwet_ac1" if isinstance(weights, str) and weights == "identity" else "gwet_ac2"
    rows = []
    for name, kind, w in (("fleiss_kappa", "fleiss", "identity"), (gwet_name, "gwet", weights)):
        with np.errstate(all="ignore"):
            d = _cac.cac_details(types, categories, w, kind, confidence=confidence)
        rows.append({"statistic": name, **{k: d[k] for k in ("value", "pa", "pe", "se", "ci_low", "ci_high",
                                                             "p_value", "n")}})
    return pd.DataFrame(rows)


def icc(ratings, *, nan_policy: str = "raise", confidence: float = 0.95) -> pd.DataFrame:
    """The six Shrout-Fleiss intraclass correlations of an (N targets x k raters) matrix, as pingouin reports.

    Parameters
    ----------
    ratings : (N, k) array-like
        Rows are targets (units), columns raters; the same k raters rate every target.
    nan_policy : {"raise", "omit"}
        ``"omit"`` drops targets with any missing rating (listwise deletion, pingouin's ``nan_policy="omit"``).
    confidence : float
        Coverage of the analytic F-based intervals (McGraw & Wong 1996), 0.95 in pingouin.

    Returns
    -------
    pandas.DataFrame
        One row per form: ``statistic`` (icc1, icc2, icc3, icc1k, icc2k, icc3k), ``type`` (McGraw-Wong name as
        pingouin prints it: ICC(1,1), ICC(A,1), ICC(C,1), ...), ``shrout_fleiss`` (ICC(1,1), ICC(2,1), ...),
        ``description``, ``ICC``, ``F``, ``df1``, ``df2``, ``pval``, ``ci_low``, ``ci_high``. ``df.attrs``
        holds the mean squares (``anova``: BMS, WMS, JMS, EMS) and ``n``, ``k``.

        Read ICC as the share of variance due to targets: 1 = raters agree perfectly, 0 = no reliability;
        ICC(A,1) < ICC(C,1) means raters differ systematically in level (bias). The F test of ICC(A/C) is the
        test that targets differ (BMS / EMS), not a test of rater bias.

    References
    ----------
    Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: uses in assessing rater reliability.
    Psychol. Bull. 86(2), 420-428. McGraw, K. O., & Wong, S. P. (1996). Psychol. Methods 1(1), 30-46.

    Examples
    --------
    >>> x = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> icc(x).set_index("shrout_fleiss")["ICC"].round(2).tolist()
    [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    """
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"ratings must be a 2-D (targets x raters) matrix, got shape {x.shape}")
    if nan_policy not in ("raise", "omit"):
        raise ValueError(f"nan_policy must be 'raise' or 'omit', not '{nan_policy}'")
    if np.isnan(x).any():
        if nan_policy == "raise":
            raise ValueError("ratings contain missing values; use nan_policy='omit' to drop incomplete targets, "
                             "or multirater_statistics for the one-way ICC on unbalanced data")
        x = x[~np.isnan(x).any(axis=1)]
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError(f"ICC needs at least 2 targets and 2 raters, got {n} x {k}")
    rows, anova = _icc.icc_table(x, confidence=confidence)
    df = pd.DataFrame(rows)
    df.attrs.update({"anova": anova, "n": n, "k": k})
    return df

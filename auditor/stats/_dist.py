"""The few distribution functions the statistics need, from ``scipy.special`` (light to import) rather than
``scipy.stats`` (~0.6 s to import, a third of a small audit).

Each equals the ``scipy.stats`` method named, bit for bit: the same special function on the same argument, with
the same values at the ends of the support and NaN for invalid parameters (``tests/test_dist.py`` checks them
against ``scipy.stats`` on a grid including the edge cases).
"""

from __future__ import annotations

import numpy as np


class _Special:
    """``scipy.special``, imported on first use (~0.1 s, which a small audit that needs no distribution skips)."""

    def __getattr__(self, name):
        from scipy import special

        return getattr(special, name)


_sc = _Special()

__all__ = ["norm_ppf", "norm_cdf", "norm_sf", "t_cdf", "t_sf", "t_ppf", "f_ppf", "f_sf"]


def _out(x: np.ndarray):
    return x[()] if x.ndim == 0 else x


def norm_ppf(q):
    """``scipy.stats.norm.ppf``."""
    return _out(np.asarray(_sc.ndtri(np.asarray(q, dtype=float))))


def norm_cdf(x):
    """``scipy.stats.norm.cdf``."""
    return _out(np.asarray(_sc.ndtr(np.asarray(x, dtype=float))))


def norm_sf(x):
    """``scipy.stats.norm.sf``."""
    return _out(np.asarray(_sc.ndtr(-np.asarray(x, dtype=float))))


def _df_ok(*dfs) -> np.ndarray:
    ok = np.asarray(True)
    for d in dfs:
        ok = ok & (np.asarray(d, dtype=float) > 0)
    return ok


def t_cdf(x, df):
    """``scipy.stats.t.cdf``."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(df, dtype=float))
    with np.errstate(invalid="ignore"):
        out = np.where(_df_ok(df), _sc.stdtr(np.where(_df_ok(df), df, 1.0), x), np.nan)
    return _out(np.asarray(out, dtype=float))


def t_sf(x, df):
    """``scipy.stats.t.sf``."""
    return t_cdf(-np.asarray(x, dtype=float), df)


def t_ppf(q, df):
    """``scipy.stats.t.ppf``."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(df, dtype=float))
    ok = _df_ok(df)
    with np.errstate(invalid="ignore"):
        inner = _sc.stdtrit(np.where(ok, df, 1.0), np.where((q > 0) & (q < 1), q, 0.5))
    out = np.where((q > 0) & (q < 1), inner, np.where(q == 0, -np.inf, np.where(q == 1, np.inf, np.nan)))
    return _out(np.asarray(np.where(ok, out, np.nan), dtype=float))


def f_ppf(q, dfn, dfd):
    """``scipy.stats.f.ppf``."""
    q, dfn, dfd = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (q, dfn, dfd)))
    ok = _df_ok(dfn, dfd)
    inside = (q > 0) & (q < 1)
    with np.errstate(invalid="ignore"):
        inner = _sc.fdtri(np.where(ok, dfn, 1.0), np.where(ok, dfd, 1.0), np.where(inside, q, 0.5))
    out = np.where(inside, inner, np.where(q == 0, 0.0, np.where(q == 1, np.inf, np.nan)))
    return _out(np.asarray(np.where(ok, out, np.nan), dtype=float))


def f_sf(x, dfn, dfd):
    """``scipy.stats.f.sf``."""
    x, dfn, dfd = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, dfn, dfd)))
    ok = _df_ok(dfn, dfd)
    inside = (x > 0) & (x < np.inf)
    with np.errstate(invalid="ignore"):
        inner = _sc.fdtrc(np.where(ok, dfn, 1.0), np.where(ok, dfd, 1.0), np.where(inside, x, 1.0))
    out = np.where(inside, inner, np.where(x <= 0, 1.0, np.where(x == np.inf, 0.0, np.nan)))
    return _out(np.asarray(np.where(ok, out, np.nan), dtype=float))

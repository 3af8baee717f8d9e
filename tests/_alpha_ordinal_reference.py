"""The ordinal large-V alpha as it was before ``_ordinal_ranks.py`` (commit 3ab60a3), kept as a reference.

Per resample it forms the (resamples x distinct values) marginals with a sparse product, their cumulative sums
(mid-ranks), and per-type rank moments with two more sparse products. Used by ``test_ordinal_ranks.py`` and
``benchmarks/bench_alpha_continuous.py``; not part of the library.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from auditor.stats._multirater_boot import resample_weights

_LARGE_V_CHUNK_CELLS = 4_000_000
_REL_TOL = 1e-12


def reference_evaluate(types, W: np.ndarray) -> np.ndarray:
    """Ordinal alpha for the (b, T) weights ``W`` over ``types`` (the old ``_LargeV.evaluate``)."""
    pair = types.m >= 2
    counts = types.counts if not types.dense else sparse.csr_matrix(types.counts)
    N = sparse.csr_matrix(counts)[np.flatnonzero(pair)]
    m = types.m[pair]
    Wp = W[:, pair]
    n = Wp @ m
    marg = np.asarray(N.T @ Wp.T).T
    r = np.cumsum(marg, axis=1) - marg / 2.0 - n[:, None] / 2.0
    s = np.asarray(N @ r.T)
    q = np.asarray(N @ (r * r).T)
    f = (2.0 * m[:, None] * q - 2.0 * s * s) / (m - 1.0)[:, None]
    d_o = np.einsum("bp,pb->b", Wp, np.maximum(f, 0.0))
    d_e = 2.0 * n * np.sum(marg * r * r, axis=1) - 2.0 * np.sum(marg * r, axis=1) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        a = 1.0 - (n - 1.0) * d_o / d_e
    return np.where((n > 1) & (d_e > _REL_TOL * (n * n) ** 2), a, np.nan)


def reference_alpha(types, *, n_boot: int, seed: int):
    """Point estimate and (B,) bootstrap samples, resampled in the old chunks (the old ``alpha_large_v``)."""
    value = float(reference_evaluate(types, types.weight[None, :])[0])
    rng = np.random.default_rng(seed)
    chunk = max(1, _LARGE_V_CHUNK_CELLS // (types.n_types + types.values.size)) * int(types.weight.sum())
    samples = np.concatenate([reference_evaluate(types, W)
                              for W in resample_weights(types.weight, n_boot, rng, chunk_elements=chunk)])
    return value, samples

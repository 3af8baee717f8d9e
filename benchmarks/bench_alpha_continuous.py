"""Ordinal Krippendorff alpha on continuous ratings with a bootstrap: speed and equality with the old algorithm.

    python benchmarks/bench_alpha_continuous.py [--units 200000] [--raters 5] [--bootstrap 1000] [--ref-units 20000]

1. R raters x N units of continuous ratings (every rating its own value: the large-V route), ordinal alpha with
   B resamples (``alpha_large_v``): wall and CPU seconds, each of ``--repeats`` runs, best and median.
2. On ``--ref-units`` units, in this same run: the old algorithm (``tests/_alpha_ordinal_reference.py``, the code
   this replaced) and the new one with the same B and seed: the CPU ratio, and the largest difference of the point
   estimate and of every bootstrap value.
3. At the full size: the largest difference from the old algorithm over its first ``--check-resamples``
   resamples (same seed), and both against exact rational arithmetic on two resamples.
No assertions: the figures are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from _alpha_ordinal_reference import reference_alpha, reference_evaluate  # noqa: E402

from auditor.stats._multirater_alpha import _LargeV, alpha_large_v  # noqa: E402
from auditor.stats._multirater_boot import resample_weights  # noqa: E402
from auditor.stats._multirater_data import parse_long, unit_types  # noqa: E402


def continuous_types(units: int, raters: int, missing: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(units, raters)) + rng.normal(size=(units, 1))
    x[rng.random(x.shape) < missing] = np.nan
    return unit_types(parse_long(np.repeat(np.arange(units), raters), np.tile(np.arange(raters), units),
                                 x.ravel()))


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def exact_alpha(types, w: np.ndarray) -> Fraction:
    """Ordinal alpha for integer weights ``w`` over the types, in exact integer / rational arithmetic."""
    pair = types.m >= 2
    N = types.counts[np.flatnonzero(pair)]
    N = N.tocsr() if hasattr(N, "tocsr") else N
    wp = w[pair].astype(np.int64)
    m = types.m[pair].astype(np.int64)
    marg = np.asarray(N.T @ wp).ravel().astype(np.int64)
    r2 = 2 * np.cumsum(marg) - marg                                    # twice the mid-ranks, integers
    s = np.asarray(N @ r2).ravel().astype(np.int64)
    q = np.asarray(N @ (r2 * r2)).ravel().astype(np.int64)
    num = (m * q).astype(object) - s.astype(object) ** 2
    d_o = sum(Fraction(2 * int(np.sum(wp[m == k].astype(object) * num[m == k])), int(k) - 1) for k in np.unique(m))
    n = int(np.sum(wp * m))
    sq = int(np.sum(marg.astype(object) * (r2.astype(object) ** 2)))
    lin = int(np.sum(marg.astype(object) * r2.astype(object)))
    d_e = 2 * n * sq - 2 * lin * lin
    return 1 - (n - 1) * d_o / d_e


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=200_000)
    ap.add_argument("--raters", type=int, default=5)
    ap.add_argument("--missing", type=float, default=0.0, help="share of ratings left missing at random")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ref-units", type=int, default=20_000)
    ap.add_argument("--check-resamples", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    B = a.bootstrap

    types = continuous_types(a.units, a.raters, a.missing)
    print(f"{a.raters} raters x {a.units:,} units, {types.values.size:,} distinct values, B = {B}")
    runs = []
    for i in range(a.repeats):
        (value, samples), wall, cpu = timed(lambda: alpha_large_v(types, "ordinal", n_boot=B,
                                                                  rng=np.random.default_rng(a.seed)))
        runs.append((wall, cpu))
        print(f"  run {i + 1}: {wall:6.2f} s wall, {cpu:6.2f} CPU-s   alpha = {value:.15f}")
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    print(f"  best {min(walls):.2f} s wall / {min(cpus):.2f} CPU-s; median {statistics.median(walls):.2f} s wall / "
          f"{statistics.median(cpus):.2f} CPU-s")

    small = continuous_types(a.ref_units, a.raters, a.missing)
    (ref_v, ref_s), ref_wall, ref_cpu = timed(lambda: reference_alpha(small, n_boot=B, seed=a.seed))
    (new_v, new_s), new_wall, new_cpu = timed(lambda: alpha_large_v(small, "ordinal", n_boot=B,
                                                                    rng=np.random.default_rng(a.seed)))
    print(f"{a.raters} raters x {a.ref_units:,} units, B = {B}: old {ref_wall:.2f} s wall / {ref_cpu:.2f} CPU-s, "
          f"new {new_wall:.2f} s wall / {new_cpu:.2f} CPU-s: {ref_cpu / new_cpu:.1f}x less CPU")
    print(f"  max |new - old|: point {abs(new_v - ref_v):.2e}, bootstrap values {np.max(np.abs(new_s - ref_s)):.2e}")

    k = min(a.check_resamples, B)
    W = next(resample_weights(types.weight, k, np.random.default_rng(a.seed), chunk_elements=k * a.units))
    old_k = reference_evaluate(types, W)
    new_k = samples[:k]
    print(f"full size, first {k} resamples: max |new - old| = {np.max(np.abs(new_k - old_k)):.2e}")
    for j in range(min(2, k)):
        ex = exact_alpha(types, W[j])
        print(f"  resample {j}: exact {float(ex):.15f}; new - exact {float(Fraction(new_k[j]) - ex):+.1e}, "
              f"old - exact {float(Fraction(old_k[j]) - ex):+.1e}")
    one = max(abs(new_k[j] - reference_evaluate(types, W[j:j + 1])[0]) for j in range(k))
    print(f"  old evaluated one resample at a time (its sums then round differently): max |new - old| = {one:.2e}")
    print(f"  setup (sorting the cells once) {timed(lambda: _LargeV(types, 'ordinal'))[1]:.2f} s wall")


if __name__ == "__main__":
    main()

"""Coverage of the system-level Kendall tau-b interval against the reliability of the system means (README,
"System-level agreement"; auditor.stats.system_level).

    .venv/bin/python benchmarks/sim_system_coverage.py [--reps 300] [--boot 500]

S systems x n conversations; true human system means evenly spread over [0, SPREAD], the LLM's true means the
humans' plus a fixed random distortion (sd SPREAD / 3); per conversation the human rating is its system mean plus
N(0, 1) noise and the LLM's is its system mean plus half the human's noise plus N(0, 1). For each SPREAD it prints
how often the 95 % percentile interval covers the true tau-b (of the true means) and the median reliability the
audit's note reports. The test suite runs one regime (SPREAD 0.7) as a check.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from auditor.stats.system_level import SystemUnits, _reliability, _resampled_means, kendall_tau_b_rows


def run(S: int, n: int, spread: float, reps: int, boot: int) -> tuple[float, float]:
    rng = np.random.default_rng(1)
    mh = np.linspace(0, spread, S)
    ml = mh + rng.normal(0, spread / 3, S)
    truth = stats.kendalltau(ml, mh).statistic
    sysc = np.repeat(np.arange(S), n)
    hits, rel = 0, []
    for r in range(reps):
        h = mh[sysc] + rng.normal(0, 1, sysc.size)
        ll = ml[sysc] + 0.5 * (h - mh[sysc]) + rng.normal(0, 1, sysc.size)
        su = SystemUnits(sysc, h, np.ones_like(h), ll, np.ones_like(ll), [str(i) for i in range(S)])
        hb, lb = _resampled_means(su, boot, r)
        lo, hi = np.quantile(kendall_tau_b_rows(lb, hb), [0.025, 0.975])
        hits += lo <= truth <= hi
        hm, lm = np.bincount(sysc, h) / n, np.bincount(sysc, ll) / n
        rel.append(min(_reliability(hm, hb), _reliability(lm, lb)))
    return hits / reps, float(np.median(rel))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", type=int, default=10)
    ap.add_argument("--per-system", type=int, default=96)
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--boot", type=int, default=500)
    args = ap.parse_args()
    for spread in (0.3, 0.5, 0.6, 0.7, 0.8, 1.0, 1.5):
        t0, c0 = time.perf_counter(), time.process_time()
        cov, rel = run(args.systems, args.per_system, spread, args.reps, args.boot)
        print(f"spread {spread:3.1f}: coverage {cov:.3f}  median reliability {rel:.2f}  "
              f"({time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s CPU)", flush=True)


if __name__ == "__main__":
    main()

"""Coverage of the paired bootstrap intervals by simulation.

A 1-5 human score y and a judge x = clip(round(y + 0.3 + noise), 1, 5): planted leniency and noise. The truth is
each statistic computed on a very large sample from the same process; 95% percentile intervals from samples of
200 conversations must cover it in 93-97% of the replications.
"""

from __future__ import annotations

import numpy as np

from auditor.stats.paired import paired_statistics

STATISTICS = ["mean_diff", "krippendorff_alpha"]
P_HUMAN = [0.10, 0.20, 0.30, 0.25, 0.15]
N_UNITS = 200
REPLICATIONS = 1000


def simulate(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.choice([1, 2, 3, 4, 5], size=n, p=P_HUMAN).astype(float)
    x = np.clip(np.round(y + 0.3 + rng.normal(0.0, 0.9, n)), 1, 5)
    return x, y


def test_percentile_intervals_cover_the_truth():
    rng = np.random.default_rng(20261125)
    x, y = simulate(rng, 4_000_000)
    truth = {r.statistic: r.value for r in paired_statistics(x, y, level="ordinal", statistics=STATISTICS,
                                                             n_boot=0)}
    covered = {name: 0 for name in STATISTICS}
    for rep in range(REPLICATIONS):
        x, y = simulate(rng, N_UNITS)
        for row in paired_statistics(x, y, level="ordinal", statistics=STATISTICS, n_boot=1000, seed=rep):
            covered[row.statistic] += row.ci_low <= truth[row.statistic] <= row.ci_high
    for name, hits in covered.items():
        rate = hits / REPLICATIONS
        assert 0.93 <= rate <= 0.97, f"{name}: {rate:.3f} coverage of the truth {truth[name]:.4f}"


def test_interval_shrinks_with_more_units():
    rng = np.random.default_rng(7)
    widths = []
    for n in (100, 400, 1600):
        x, y = simulate(rng, n)
        row = paired_statistics(x, y, level="ordinal", statistics=["krippendorff_alpha"], seed=1)[0]
        widths.append(row.ci_high - row.ci_low)
    assert widths[0] > 1.6 * widths[1] > 2.5 * widths[2]

"""Which conversations a campaign asks people to rate, who rates each, and with what inclusion probability.

Pure functions over arrays: no store, no printing. The store module records what they return.

Designs
-------
- ``all``: every conversation of the population; inclusion probability 1.
- ``random``: a simple random sample of ``n`` without replacement; inclusion probability ``n / N``.
- ``stratified``: proportional allocation of ``n`` over strata by the largest-remainder rule, at least one item per
  stratum when ``n`` allows; a simple random sample inside each stratum; inclusion probability ``n_h / N_h``.

Assignment
----------
Each item goes to ``k`` distinct annotators, chosen cyclically over a seeded permutation of the annotators
(item *i* gets annotators ``i·k, i·k+1, ... i·k+k-1`` modulo *A*): every annotator's load is within one of
``n·k / A``, nobody gets an item twice, and with ``k ≥ 2`` every pair of annotators shares items. Each annotator's
queue is then shuffled (seeded), so item order does not line up with the design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AuditorError

__all__ = ["STRATEGIES", "Sample", "draw_sample", "assign", "allocate"]

STRATEGIES = ("all", "random", "stratified")


@dataclass
class Sample:
    """Positions into the population (``index``), with each item's inclusion probability and stratum."""

    index: np.ndarray          # (n,) int64 positions into the population, in item order
    inclusion_prob: np.ndarray  # (n,) float64
    stratum: list[str | None]   # (n,)
    design: dict                # what was done, for the record (strata sizes, allocation)


def allocate(sizes: np.ndarray, n: int) -> np.ndarray:
    """Proportional allocation of ``n`` items over strata of ``sizes`` (largest remainder, ≥ 1 each if n allows).

    >>> allocate(np.array([50, 30, 20]), 10).tolist()
    [5, 3, 2]
    >>> allocate(np.array([98, 1, 1]), 3).tolist()
    [1, 1, 1]
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    if n >= total:
        return sizes.copy()
    floor_one = n >= len(sizes)
    quota = sizes * n / total
    alloc = np.floor(quota).astype(np.int64)
    if floor_one:
        alloc = np.maximum(alloc, 1)
    alloc = np.minimum(alloc, sizes)
    # hand out what is left by the largest remainder (ties: the larger stratum, then the first), or take back
    order = np.lexsort((np.arange(len(sizes)), -sizes, -(quota - np.floor(quota))))
    while alloc.sum() < n:
        for h in order:
            if alloc.sum() >= n:
                break
            if alloc[h] < sizes[h]:
                alloc[h] += 1
    while alloc.sum() > n:          # only when the floor of one per stratum overshot
        for h in order[::-1]:
            if alloc.sum() <= n:
                break
            if alloc[h] > 1:
                alloc[h] -= 1
    return alloc


def draw_sample(population_n: int, *, strategy: str, n: int | None, seed: int,
                strata: list[str | None] | None = None) -> Sample:
    """Draw the campaign's items from a population of ``population_n`` conversations (positions 0..N-1)."""
    if strategy not in STRATEGIES:
        raise AuditorError(f"unknown strategy {strategy!r}. Fix: use one of {', '.join(STRATEGIES)}.")
    if population_n == 0:
        raise AuditorError("no conversation to rate: the population is empty. Fix: load conversations with their "
                           "messages (`auditor ingest conversations`), or loosen --where.")
    rng = np.random.default_rng(seed)
    if strategy == "all":
        idx = rng.permutation(population_n)
        return Sample(idx, np.ones(population_n), [None] * population_n,
                      {"strategy": "all", "population": population_n})
    if n is None:
        raise AuditorError(f"--strategy {strategy} needs --sample N (how many conversations to draw).")
    if n < 1:
        raise AuditorError(f"--sample must be at least 1 (got {n}).")
    n = min(n, population_n)
    if strategy == "random":
        idx = rng.choice(population_n, size=n, replace=False)
        return Sample(idx.astype(np.int64), np.full(n, n / population_n), [None] * n,
                      {"strategy": "random", "population": population_n, "n": n})
    if strata is None or len(strata) != population_n:
        raise AuditorError("--strategy stratified needs --stratify-by (system, task, llm_score or metadata.KEY).")
    keys = np.array(["\0none" if s is None else str(s) for s in strata], dtype=object)
    names, inverse = np.unique(keys, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(names))
    alloc = allocate(sizes, n)
    picked, probs, labels = [], [], []
    for h, name in enumerate(names):
        members = np.flatnonzero(inverse == h)
        take = rng.choice(members, size=int(alloc[h]), replace=False) if alloc[h] else members[:0]
        picked.append(take)
        probs.append(np.full(len(take), alloc[h] / sizes[h]))
        labels += [None if name == "\0none" else str(name)] * len(take)
    idx = np.concatenate(picked).astype(np.int64)
    perm = rng.permutation(len(idx))         # item order does not follow the strata
    design = {"strategy": "stratified", "population": population_n, "n": int(alloc.sum()),
              "allocation": "proportional, largest remainder, at least one per stratum when n allows",
              "strata": {("(none)" if k == "\0none" else str(k)): {"population": int(s), "sampled": int(a)}
                         for k, s, a in zip(names, sizes, alloc)}}
    return Sample(idx[perm], np.concatenate(probs)[perm], [labels[i] for i in perm], design)


def assign(n_items: int, annotators: list[str], k: int, seed: int) -> dict[str, list[int]]:
    """Each item to ``k`` distinct annotators with balanced load; returns each annotator's queue (item numbers)."""
    a = len(annotators)
    if k < 1:
        raise AuditorError(f"--overlap must be at least 1 (got {k}).")
    if k > a:
        raise AuditorError(f"--overlap {k} needs at least {k} annotators (got {a}). Fix: add annotators or lower "
                           "--overlap.")
    rng = np.random.default_rng([seed, 1])
    order = [annotators[i] for i in rng.permutation(a)]
    queues: dict[str, list[int]] = {name: [] for name in annotators}
    for item in range(n_items):
        for j in range(k):
            queues[order[(item * k + j) % a]].append(item)
    for name in annotators:
        q = queues[name]
        queues[name] = [q[i] for i in rng.permutation(len(q))]
    return queues

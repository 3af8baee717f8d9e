"""System-level rows of the audit (``design = system``): per system under test (``conversations.system_id``) the
humans' and the LLM's mean, and whether the LLM ranks the systems as the humans do (:mod:`auditor.stats.system_level`).

Units: conversations in the paired design (the LLM and the humans rated the same conversation), tasks in the matched
design (different conversations of the same task and system). Each conversation's rating is the mean of its ratings
(all reference raters for the humans, all samples for the LLM); conversations without a system are left out.
"""

from __future__ import annotations

import numpy as np

from ..stats._result import StatRow
from ..stats.system_level import SYSTEM_STATISTICS, SystemUnits, system_statistics
from ._consensus import consensus

__all__ = ["system_rows", "wants_system_rows"]


def wants_system_rows(statistics: list[str] | None) -> list[str] | None:
    """The system statistics requested (None = all of them, [] = none)."""
    if statistics is None:
        return None
    return [s for s in SYSTEM_STATISTICS if any(t == s or t.startswith(s + "=") for t in statistics)]


def _systems(store, sig) -> tuple[dict[int, int], list[str]]:
    """conv_key -> system code, and the system names (read once per audit)."""
    if "systems" not in sig.shared:
        names = [r[0] for r in store.con.execute("SELECT DISTINCT system_id FROM conversations WHERE system_id IS "
                                                 "NOT NULL ORDER BY 1").fetchall()]
        d = store.con.execute("SELECT c.conv_key AS k, s.code AS code FROM conversations c JOIN (SELECT system_id, "
                              "(row_number() OVER (ORDER BY system_id) - 1)::BIGINT AS code FROM (SELECT DISTINCT "
                              "system_id FROM conversations WHERE system_id IS NOT NULL)) s USING (system_id) "
                              "ORDER BY c.conv_key").fetchnumpy() if names else {"k": [], "code": []}
        sig.shared["systems"] = (np.asarray(d["k"], dtype=np.int64), np.asarray(d["code"], dtype=np.int64), names)
    return sig.shared["systems"]


def _system_of(keys: np.ndarray, codes: np.ndarray, conv: np.ndarray) -> np.ndarray:
    """System code of each conversation key in ``conv`` (-1 = none)."""
    if keys.size == 0:
        return np.full(conv.size, -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(keys, conv), 0, keys.size - 1)
    return np.where(keys[pos] == conv, codes[pos], -1)


def _units(sig, llm_idx: int, ref_idx: list[int], design: str, keys, codes):
    """(system, unit, human mean, LLM mean) per conversation (paired) or (system, task) sums/counts (matched)."""
    ml = sig.rater == llm_idx
    mh = np.isin(sig.rater, ref_idx)
    lu, lv, _ = consensus(sig.conv[ml], sig.value[ml], "interval")
    hu, hv, _ = consensus(sig.conv[mh], sig.value[mh], "interval")
    ls, hs = _system_of(keys, codes, lu), _system_of(keys, codes, hu)
    if design == "paired":
        common, il, ih = np.intersect1d(lu, hu, assume_unique=True, return_indices=True)
        s = ls[il]
        ok = s >= 0
        one = np.ones(int(ok.sum()))
        return s[ok], hv[ih][ok], one, lv[il][ok], one, int(common.size - ok.sum())
    # matched: conversation means summed per (system, task)
    cu, first = np.unique(sig.conv, return_index=True)
    ctask = sig.task[first]
    lt, ht = ctask[np.searchsorted(cu, lu)], ctask[np.searchsorted(cu, hu)]
    n_tasks = int(max(lt.max(initial=-1), ht.max(initial=-1))) + 2
    lk, hk = ls * n_tasks + lt + 1, hs * n_tasks + ht + 1
    lok, hok = (ls >= 0) & (lt >= 0), (hs >= 0) & (ht >= 0)
    both = np.intersect1d(lk[lok], hk[hok])
    if both.size == 0:
        return (np.zeros(0, dtype=np.int64),) + (np.zeros(0),) * 4 + (0,)
    li, hi = np.searchsorted(both, lk), np.searchsorted(both, hk)
    lin = lok & (li < both.size) & (both[np.minimum(li, both.size - 1)] == lk)
    hin = hok & (hi < both.size) & (both[np.minimum(hi, both.size - 1)] == hk)
    m = both.size
    h_sum, h_cnt = np.bincount(hi[hin], hv[hin], m), np.bincount(hi[hin], minlength=m).astype(float)
    l_sum, l_cnt = np.bincount(li[lin], lv[lin], m), np.bincount(li[lin], minlength=m).astype(float)
    return both // n_tasks, h_sum, h_cnt, l_sum, l_cnt, int((~lok).sum() + (~hok).sum())


def system_rows(store, sig, dim, llm_idx: int, ref_idx: list[int], design: str, opts,
                statistics: list[str] | None) -> list[StatRow]:
    """The system-level rows of one LLM rater on one dimension; [] when no conversation has a system."""
    keys, codes, names = _systems(store, sig)
    if not names:
        return []
    system, h_sum, h_cnt, l_sum, l_cnt, n_out = _units(sig, llm_idx, ref_idx, design, keys, codes)
    if system.size == 0:
        return []
    present = np.unique(system)
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[present] = np.arange(present.size)
    su = SystemUnits(remap[system], h_sum, h_cnt, l_sum, l_cnt, [names[i] for i in present])
    rows = system_statistics(su, higher_is_better=dim.higher_is_better, n_boot=opts.n_boot, seed=opts.seed,
                             level=dim.level, statistics=statistics)
    unit = "conversations rated by both" if design == "paired" else "tasks with ratings by both in the system"
    extra = f"units: {unit}" + (f"; {n_out} rated conversation(s) without a system_id or task left out"
                                if n_out else "")
    for r in rows:
        r.note = f"{r.note}; {extra}" if r.note else extra
    return rows

"""The paired Eval ceiling: every pair of humans on the same conversation, computed directly."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from auditor import Store
from auditor.audit import audit
from auditor.audit._fetch import load_stored_rubric

sys.path.insert(0, str(Path(__file__).parent))
import _report_store  # noqa: E402


def test_paired_eval_ceiling_is_the_mean_over_human_pairs(tmp_path):
    path = _report_store.build_store(tmp_path / "r.duckdb")
    with Store(path, read_only=True) as s:
        rows = audit(s, n_boot=50, statistics=["eval_score"])
        got = rows[(rows.rater == "human_loo") & (rows.statistic == "eval_score")].iloc[0]
        sl = s.sql("SELECT conversation_id AS c, rater_id AS r, dimension AS d, value AS v, rubric "
                   "FROM signals_long WHERE rater_kind = 'human'")
        rub = load_stored_rubric(s, sl.rubric.iloc[0])
    lohi = {d.name: d.value_range for d in rub.dimensions}
    sl["x"] = [(v - lohi[d][0]) / (lohi[d][1] - lohi[d][0]) for v, d in zip(sl.v, sl.d)]
    wide = sl.pivot_table(index=["c", "d"], columns="r", values="x")
    scores = []
    for _, g in wide.groupby(level=0):
        for a in g.columns:
            for b in g.columns:
                m = g[a].notna() & g[b].notna()
                if a != b and m.any():
                    scores.append(100 * (1 - np.mean(np.abs(g[a][m] - g[b][m]))))
    assert got["n"] == sl["c"].nunique()
    assert got["value"] == np.float64(np.mean(scores)) or abs(got["value"] - np.mean(scores)) < 1e-9

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


def test_dense_sheets_and_pair_by_pair_give_the_same_paired_eval(tmp_path, monkeypatch):
    from auditor.audit import _matched_eval as _matched

    path = _report_store.build_store(tmp_path / "r.duckdb")
    with Store(path, read_only=True) as s:
        dense = audit(s, n_boot=100, statistics=["eval_score", "eval_score_batch_std"])
        monkeypatch.setattr(_matched, "_DENSE_SHEET_CELLS", 0)        # forces the pair-by-pair path
        pairs = audit(s, n_boot=100, statistics=["eval_score", "eval_score_batch_std"])
    assert len(dense) >= 3 and set(dense.rater) >= {"human_loo"}
    assert dense[["rater", "statistic", "n", "note"]].equals(pairs[["rater", "statistic", "n", "note"]])
    np.testing.assert_allclose(dense[["value", "ci_low", "ci_high"]].to_numpy(dtype=float),
                               pairs[["value", "ci_low", "ci_high"]].to_numpy(dtype=float), rtol=0, atol=1e-9)


def test_dense_sheets_with_batches_samples_and_missing_answers(tmp_path, monkeypatch):
    # two human batches, humans rating a random subset, a judge with two samples, unanswered questions (NULL values)
    from auditor import load_rubric
    from auditor.audit import _matched_eval as _matched
    from auditor.store import register_rubric

    rng = np.random.default_rng(11)
    rubric = load_rubric("tau_usi")
    with Store(tmp_path / "v.duckdb") as s:
        register_rubric(s, rubric)
        s.con.execute("INSERT INTO raters VALUES ('judge-1', 'judge', 'x', NULL, NULL), ('h1', 'human', NULL, "
                      "NULL, NULL), ('h2', 'human', NULL, NULL, NULL), ('h3', 'human', NULL, NULL, NULL)")
        convs = [(f"c{i:02d}", i, str(i % 2)) for i in range(30)]
        s.con.executemany("INSERT INTO conversations (conversation_id, conv_key, human_batch) VALUES (?, ?, ?)",
                          convs)
        rows = []
        for cid, _, _ in convs:
            humans = [h for h in ("h1", "h2", "h3") if rng.random() < 0.7]
            for d in rubric.dimensions:
                for rater, sample in [(h, 0) for h in humans] + [("judge-1", 0), ("judge-1", 1)]:
                    if rng.random() < 0.15:
                        rows.append((cid, d.name, rater, sample, "not_answered", None))
                    else:
                        rows.append((cid, d.name, rater, sample, "ok", float(rng.choice(d.distinct_values))))
        s.con.executemany("INSERT INTO signal_rows (conversation_id, rubric, dimension, rater_id, sample, status, "
                          "value, value_source) VALUES (?, 'tau_usi', ?, ?, ?, ?, ?, 'value')", rows)
    with Store(tmp_path / "v.duckdb", read_only=True) as s:
        kw = dict(n_boot=100, statistics=["eval_score", "eval_score_batch_std"])
        dense = audit(s, **kw)
        monkeypatch.setattr(_matched, "_DENSE_SHEET_CELLS", 0)
        pairs = audit(s, **kw)
    assert set(dense.rater) == {"judge-1", "human_loo"} and np.isfinite(dense.value).all()
    assert dense[["rater", "statistic", "n", "note"]].equals(pairs[["rater", "statistic", "n", "note"]])
    np.testing.assert_allclose(dense[["value", "ci_low", "ci_high"]].to_numpy(dtype=float),
                               pairs[["value", "ci_low", "ci_high"]].to_numpy(dtype=float), rtol=0, atol=1e-9)

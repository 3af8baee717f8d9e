"""Judge panels: the combining rules (majority's tie-break), storage and refresh, and the panel rows against a
direct numpy / krippendorff recomputation."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from auditor import Store
from auditor.audit import AuditOptions, audit
from auditor.cli import app
from auditor.errors import AuditorError
from auditor.panel import combine, create_panel, panels


def test_rules_and_the_majority_tie_break():
    assert combine([1, 2, 4], "mean") == pytest.approx(7 / 3)
    assert combine([1, 2, 4], "median") == 2
    assert combine([1, 2, 4, 5], "median") == 3
    assert combine([2, 2, 5], "majority") == 2
    # tie 1 vs 4 (one vote each, with 3): median 3 -> 4 is closer
    assert combine([1, 3, 4, 4, 1], "majority") == 4
    assert combine([1, 4], "majority") == 1                 # equally close to the median 2.5: the lower value
    assert combine([5, 1, 3], "majority") == 3              # three-way tie: the median itself


def _store(tmp_path, n=120, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, n)
    rows = [dict(conversation_id=f"c{i}", rater_id="h1", rater_kind="human", dimension="score", value=int(t))
            for i, t in enumerate(truth)]
    shared = rng.normal(0, 1, n)                            # errors the judges share
    for j, w in [("j1", 1.0), ("j2", 0.8), ("j3", 0.0)]:
        noisy = np.clip(np.rint(truth + w * shared + rng.normal(0, 0.7, n)), 1, 5)
        rows += [dict(conversation_id=f"c{i}", rater_id=j, rater_kind="judge", dimension="score", value=int(v))
                 for i, v in enumerate(noisy) if not (j == "j3" and i < 10)]       # j3 skipped 10 conversations
    s = Store(tmp_path / "p.duckdb")
    s.ingest_signals(pd.DataFrame(rows), rubric="likert5", source_name="t")
    return s, pd.DataFrame(rows)


def test_create_stores_the_combined_verdicts_and_refreshes(tmp_path):
    s, d = _store(tmp_path)
    with s:
        res = create_panel(s, "trio", ["j1", "j2", "j3"], "median")
        w = d[d.rater_kind == "judge"].pivot(index="conversation_id", columns="rater_id", values="value")
        want = w.median(axis=1)                              # 2 of 3 members suffice (more than half)
        got = s.sql("SELECT conversation_id, value, label, value_source FROM signals WHERE rater_id = 'trio'"
                    ).set_index("conversation_id")
        assert res.n_inserted == len(want) == 120
        assert np.allclose(got["value"].reindex(want.index), want)
        assert set(got.value_source) == {"panel"}
        assert panels(s) == {"trio": {"members": ["j1", "j2", "j3"], "rule": "median", "min_members": 2,
                                      "rubric": None}}
        assert s.sql("SELECT kind FROM raters WHERE rater_id = 'trio'").kind.tolist() == ["judge"]
        again = create_panel(s, "trio", ["j1", "j2", "j3"], "median")
        assert again.n_inserted == 0 and again.n_unchanged == 120 and again.batch_id is None
        # a member loses verdicts: panel verdicts without a majority of members go away
        s.delete_signals("s.rater_id IN ('j1', 'j2') AND s.conversation_id = 'c0'")
        third = create_panel(s, "trio", ["j1", "j2", "j3"], "median")
        assert third.n_replaced >= 1 and any("removed" in n for n in third.notes)
        assert s.sql("SELECT count(*) n FROM signals WHERE rater_id = 'trio'").n[0] == 119
        with pytest.raises(AuditorError, match="at least 2"):
            create_panel(s, "solo", ["j1"], "mean")
        with pytest.raises(AuditorError, match="human rater"):
            create_panel(s, "x", ["j1", "h1"], "mean")
        with pytest.raises(AuditorError, match="itself a panel"):
            create_panel(s, "x", ["j1", "trio"], "mean")
        with pytest.raises(AuditorError, match="already a judge rater"):
            create_panel(s, "j1", ["j2", "j3"], "mean")
        with pytest.raises(AuditorError, match="unknown panel rule"):
            create_panel(s, "x", ["j1", "j2"], "vote")


def test_panel_rows_equal_a_direct_recomputation(tmp_path):
    s, d = _store(tmp_path)
    with s:
        create_panel(s, "trio", ["j1", "j2", "j3"], "mean")
        df = audit(s, AuditOptions(llm=["trio", "j1"], n_boot=200, level="conversation"))
    r = df[df.rater == "trio"].set_index("statistic")
    assert not df[df.rater == "j1"].statistic.str.startswith("panel").any()
    w = d.pivot(index="conversation_id", columns="rater_id", values="value")
    full = w.dropna()
    err = {j: full[j] - full["h1"] for j in ("j1", "j2", "j3")}
    cors = {f"{a}|{b}": np.corrcoef(err[a], err[b])[0, 1] for a, b in [("j1", "j2"), ("j1", "j3"), ("j2", "j3")]}
    for k, v in cors.items():
        assert r.loc[f"panel_error_correlation={k}", "value"] == pytest.approx(v, abs=1e-12)
        assert r.loc[f"panel_error_correlation={k}", "n"] == len(full) == 110
    rbar = np.mean(list(cors.values()))
    assert r.loc["panel_error_correlation", "value"] == pytest.approx(rbar, abs=1e-12)
    assert r.loc["panel_effective_judges", "value"] == pytest.approx(3 / (1 + 2 * rbar), abs=1e-12)
    assert cors["j1|j2"] > 0.3 > abs(cors["j1|j3"])          # the planted shared error shows
    lo, hi = r.loc["panel_effective_judges", ["ci_low", "ci_high"]]
    assert lo < r.loc["panel_effective_judges", "value"] < hi
    alpha = krippendorff.alpha(reliability_data=w[["j1", "j2", "j3"]].T.to_numpy(dtype=float),
                               level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5])
    assert r.loc["panel_member_alpha", "value"] == pytest.approx(alpha, abs=1e-9)


def test_cli_panel_create_and_list(tmp_path):
    s, _ = _store(tmp_path)
    s.close()
    db = str(tmp_path / "p.duckdb")
    run = CliRunner().invoke
    out = run(app, ["--db", db, "panel", "create", "duo", "--judges", "j1,j2", "--rule", "majority"])
    assert out.exit_code == 0 and "120 inserted" in out.output, out.output
    out = run(app, ["--db", db, "panel", "list", "--json"])
    assert '"duo"' in out.output and "majority" in out.output
    out = run(app, ["--db", db, "panel", "create", "duo", "--judges", "j1,nobody"])
    assert out.exit_code == 1 and "unknown judge 'nobody'" in out.output


def test_the_stored_majority_follows_combine(tmp_path):
    """The SQL that computes panel verdicts applies :func:`combine`'s majority rule, ties included."""
    rng = np.random.default_rng(11)
    rows = []
    for i in range(300):
        rows.append(dict(conversation_id=f"c{i}", rater_id="h", rater_kind="human", dimension="score", value=3))
        for j in ("j1", "j2", "j3", "j4", "j5"):
            if rng.random() < 0.85:
                rows.append(dict(conversation_id=f"c{i}", rater_id=j, rater_kind="judge", dimension="score",
                                 value=int(rng.integers(1, 6))))
    d = pd.DataFrame(rows)
    with Store(tmp_path / "m.duckdb") as s:
        s.ingest_signals(d, rubric="likert5", source_name="t")
        for rule in ("majority", "median", "mean"):
            create_panel(s, f"p_{rule}", ["j1", "j2", "j3", "j4", "j5"], rule)
            got = s.sql(f"SELECT conversation_id, value, label FROM signals WHERE rater_id = 'p_{rule}'"
                        ).set_index("conversation_id")
            j = d[d.rater_kind == "judge"].groupby("conversation_id")["value"]
            want = {c: combine(g.to_numpy(), rule) for c, g in j if len(g) >= 3}
            assert set(got.index) == set(want)
            assert all(got.loc[c, "value"] == pytest.approx(v) for c, v in want.items()), rule
            on_grid = got["value"].isin([1, 2, 3, 4, 5])
            assert (got.loc[on_grid, "label"].astype(float) == got.loc[on_grid, "value"]).all()
            assert got.loc[~on_grid, "label"].isna().all()

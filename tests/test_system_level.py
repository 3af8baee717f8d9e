"""System-level agreement (design = system): against scipy on per-system means, the HANNA value computed from the
authors' data, a coverage simulation of the Kendall tau interval, pairwise order and top-1 by hand, and the matched
design's task units."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from auditor import Store
from auditor.audit import AuditOptions, audit
from auditor.stats.system_level import SystemUnits, kendall_tau_b_rows, spearman_rows, system_statistics

AUDITOR = str(__import__("pathlib").Path(sys.executable).parent / "auditor")
HANNA = __import__("pathlib").Path(__file__).resolve().parents[1] / "auditor" / "data" / "hanna" / "stories.csv"


def _by_name(rows):
    return {r.statistic: r for r in rows}


def _units(df, human_cols, llm_col, names=None):
    names = names or sorted(df.system.unique())
    code = df.system.map({n: i for i, n in enumerate(names)}).to_numpy()
    h = df[human_cols].mean(axis=1).to_numpy()
    ll = df[llm_col].to_numpy(dtype=float)
    return SystemUnits(code, h, np.ones_like(h), ll, np.ones_like(ll), names)


def test_hanna_beluga_coherence_system_kendall_over_the_10_generation_systems():
    """SOURCE.md of shared/data/hanna: system-level Kendall of Beluga-13B (Eval-Prompt 1) on coherence, 10
    non-human systems: 0.778 (computed from the authors' release; the TACL paper shows it as a heatmap)."""
    d = pd.read_csv(HANNA)
    d = d[d.system != "Human"]
    rows = _by_name(system_statistics(_units(d, ["human1_CH", "human2_CH", "human3_CH"], "Beluga-13B_CH"),
                                      n_boot=200, seed=0))
    assert round(rows["system_kendall_tau_b"].value, 3) == 0.778
    assert rows["system_kendall_tau_b"].n == 10


def test_audit_system_rows_equal_scipy_on_per_system_means(hanna_db):
    with Store(hanna_db, read_only=True) as s:
        df = audit(s, AuditOptions(level="system", rubric="hanna", llm=["ChatGPT:p1", "Mistral-7B:p1"], n_boot=200))
    assert set(df["design"]) == {"system"}
    d = pd.read_csv(HANNA)
    for model in ("ChatGPT", "Mistral-7B"):
        for code, dim in [("RE", "relevance"), ("SU", "surprise")]:
            x = d[["system", f"human1_{code}", f"human2_{code}", f"human3_{code}", f"{model}_{code}"]].copy()
            x = x[x[f"{model}_{code}"] >= 1]        # the released values below the scale are stored as failed
            hm = x[[f"human{k}_{code}" for k in (1, 2, 3)]].mean(axis=1).groupby(x.system).mean()
            lm = x.groupby("system")[f"{model}_{code}"].mean()
            r = df[(df.rater == f"{model}:p1") & (df.dimension == dim)].set_index("statistic")
            assert len(hm) == 11
            for sysname in hm.index:
                assert r.loc[f"system_human_mean={sysname}", "value"] == pytest.approx(hm[sysname], abs=1e-9)
                assert r.loc[f"system_llm_mean={sysname}", "value"] == pytest.approx(lm[sysname], abs=1e-9)
            assert r.loc["system_kendall_tau_b", "value"] == pytest.approx(stats.kendalltau(lm, hm).statistic,
                                                                           abs=1e-9)
            assert r.loc["system_spearman", "value"] == pytest.approx(stats.spearmanr(lm, hm).statistic, abs=1e-9)
            assert r.loc["system_kendall_tau_b", "n"] == 11
            lo, hi = r.loc["system_kendall_tau_b", ["ci_low", "ci_high"]]
            assert -1 <= lo <= hi <= 1


def test_vectorised_rank_correlations_equal_scipy_with_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=(50, 7)).astype(float)
    y = rng.integers(0, 4, size=(50, 7)).astype(float)
    kt, sp = kendall_tau_b_rows(x, y), spearman_rows(x, y)
    for b in range(50):
        if np.ptp(x[b]) and np.ptp(y[b]):
            assert kt[b] == pytest.approx(stats.kendalltau(x[b], y[b]).statistic, abs=1e-12)
            assert sp[b] == pytest.approx(stats.spearmanr(x[b], y[b]).statistic, abs=1e-12)
        else:
            assert np.isnan(kt[b])


def test_kendall_interval_covers_the_truth_at_the_nominal_rate():
    """10 systems x 96 conversations, true human means 0.7 apart end to end (sd 1 per conversation: the system means'
    reliability is about 0.85, the regime the note calls fine); the LLM's true means are the humans' plus a fixed
    distortion, its errors correlated with the humans'. 300 replications, B = 500: coverage in [0.93, 0.97]."""
    rng = np.random.default_rng(1)
    S, n = 10, 96
    mh = np.linspace(0, 0.7, S)
    ml = mh + rng.normal(0, 0.7 / 3, S)
    truth = stats.kendalltau(ml, mh).statistic
    sysc = np.repeat(np.arange(S), n)
    hits = 0
    for rep in range(300):
        h = mh[sysc] + rng.normal(0, 1, sysc.size)
        ll = ml[sysc] + 0.5 * (h - mh[sysc]) + rng.normal(0, 1, sysc.size)
        su = SystemUnits(sysc, h, np.ones_like(h), ll, np.ones_like(ll), [str(i) for i in range(S)])
        r = _by_name(system_statistics(su, n_boot=500, seed=rep, statistics=["system_kendall_tau_b"]))
        hits += r["system_kendall_tau_b"].ci_low <= truth <= r["system_kendall_tau_b"].ci_high
    assert 0.93 <= hits / 300 <= 0.97


def test_pairwise_order_and_top1_by_hand():
    # 4 systems, humans: A < B < C << D, with A, B, C close and D far; the LLM swaps C and D
    rng = np.random.default_rng(0)
    names = ["A", "B", "C", "D"]
    true_h = {"A": 1.0, "B": 1.05, "C": 2.0, "D": 3.0}
    true_l = {"A": 1.0, "B": 1.1, "C": 3.0, "D": 2.0}
    rows = []
    for s in names:
        for _ in range(200):
            rows.append((s, true_h[s] + rng.normal(0, 0.3), true_l[s] + rng.normal(0, 0.3)))
    d = pd.DataFrame(rows, columns=["system", "h", "l"])
    su = _units(d, ["h"], "l", names)
    r = _by_name(system_statistics(su, n_boot=400, seed=0))
    hm, lm = d.groupby("system").h.mean(), d.groupby("system").l.mean()
    # significant human pairs: recompute the bootstrap the same way (same seed, same draws)
    from auditor.stats.system_level import _resampled_means
    hb, lb = _resampled_means(su, 400, 0)
    sig, same, rev = 0, 0, 0
    for i in range(4):
        for j in range(i + 1, 4):
            lo, hi = np.quantile(hb[:, j] - hb[:, i], [0.025, 0.975])
            if lo > 0 or hi < 0:
                sig += 1
                hs = np.sign(hm.iloc[j] - hm.iloc[i])
                ls = np.sign(lm.iloc[j] - lm.iloc[i])
                same += ls == hs
                rev += ls == -hs
    assert r["system_pairwise_agreement"].n == sig
    assert r["system_pairwise_agreement"].value == pytest.approx(same / sig)
    assert r["system_reversed_pairs"].value == rev >= 1          # C/D is reversed
    assert r["system_top1_agreement"].value == 0.0               # humans pick D, the LLM picks C
    assert r["system_top1_probability"].value < 0.05
    # lower is better: the best system is the lowest mean (A for both, though A and B are close)
    r2 = _by_name(system_statistics(su, n_boot=400, seed=0, higher_is_better=False))
    assert r2["system_top1_agreement"].value == 1.0
    assert 0.3 < r2["system_top1_probability"].value < 1.0


def test_fewer_than_three_systems_is_undefined_with_the_reason():
    su = SystemUnits(np.array([0, 0, 1, 1]), np.array([1., 2, 3, 4]), np.ones(4), np.array([1., 2, 4, 4]),
                     np.ones(4), ["a", "b"])
    r = _by_name(system_statistics(su, n_boot=50))
    assert np.isnan(r["system_kendall_tau_b"].value) and "at least 3" in r["system_kendall_tau_b"].note
    assert r["system_human_mean=a"].value == 1.5


def test_matched_design_uses_tasks_within_systems_as_units(tmp_path):
    """Humans and a simulator rate different conversations of the same (system, task): the system means are the
    conversation-weighted means over tasks rated by both, and tasks only one side rated are left out."""
    rng = np.random.default_rng(5)
    convs, sigs = [], []
    for s in ["s1", "s2", "s3", "s4"]:
        for t in range(12):
            for side, k in [("human", 2), ("sim", 1)]:
                if side == "sim" and t == 11:
                    continue                               # task 11: humans only -> left out
                for c in range(k):
                    cid = f"{s}-{t}-{side}-{c}"
                    convs.append(dict(conversation_id=cid, task_id=f"t{t}", system_id=s,
                                      user_kind="human" if side == "human" else "sim"))
                    sigs.append(dict(conversation_id=cid, dimension="score", value=int(rng.integers(1, 6)),
                                     rater_id="people" if side == "human" else "sim",
                                     rater_kind="human" if side == "human" else "simulator"))
    db = tmp_path / "m.duckdb"
    c, g = pd.DataFrame(convs), pd.DataFrame(sigs)
    with Store(db) as st:
        st.ingest_conversations(c, source_name="convs")
        st.ingest_signals(g, rubric="likert5", source_name="sigs")
        df = audit(st, AuditOptions(level="system", n_boot=100))
    g = g.merge(c, on="conversation_id")
    g = g[g.task_id != "t11"]
    r = df[df.design == "system"].set_index("statistic")
    for s in ["s1", "s2", "s3", "s4"]:
        x = g[g.system_id == s]
        assert r.loc[f"system_human_mean={s}", "value"] == pytest.approx(x[x.rater_id == "people"].value.mean())
        assert r.loc[f"system_llm_mean={s}", "value"] == pytest.approx(x[x.rater_id == "sim"].value.mean())
        assert r.loc[f"system_human_mean={s}", "n"] == 11
    assert "tasks with ratings by both" in r.loc["system_kendall_tau_b", "note"]


def test_cli_level_system_needs_systems(demo_db, tmp_path):
    import shutil

    db = tmp_path / "d.duckdb"
    shutil.copy(demo_db, db)
    with Store(db) as s:
        s.con.execute("UPDATE conversations SET system_id = NULL")
    p = subprocess.run([AUDITOR, "--db", str(db), "audit", "--level", "system",
                        "--bootstrap", "50"], capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    assert "no rated conversation has a system_id" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([AUDITOR, "--db", str(demo_db), "audit", "--level", "system",
                        "--bootstrap", "50", "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rows = pd.DataFrame(json.loads(p.stdout)["rows"])
    assert set(rows.design) == {"system"}
    assert {"system_human_mean=0", "system_human_mean=1", "system_human_mean=2"} <= set(rows.statistic)


def test_system_id_from_conversations_tau2_and_older_stores(tmp_path):
    (tmp_path / "c.csv").write_text("conversation_id,agent,messages\nc1,bot-a,\nc2,bot-b,\n", encoding="utf-8")
    tau2 = {"info": {"user_info": {"llm": "gpt-4.1"}, "agent_info": {"llm": "gpt-4o"},
                     "environment_info": {"domain_name": "retail"}},
            "simulations": [{"id": "s1", "task_id": "7", "trial": 0, "reward_info": {"reward": 1.0},
                             "messages": [{"role": "user", "content": "hi"}]}]}
    (tmp_path / "tau2.json").write_text(json.dumps(tau2), encoding="utf-8")
    (tmp_path / "tau.json").write_text(json.dumps([{"task_id": 3, "reward": 1.0, "trial": 0, "traj": []}]),
                                       encoding="utf-8")
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        s.ingest_conversations(str(tmp_path / "c.csv"), mapping={"agent": "system_id"})
        s.ingest_tau_bench(tmp_path / "tau2.json")
        s.ingest_tau_bench(tmp_path / "tau.json", system="my-agent", domain="airline")
        got = dict(s.con.execute("SELECT conversation_id, system_id FROM conversations").fetchall())
        assert got == {"c1": "bot-a", "c2": "bot-b", "tau2:s1": "gpt-4o", "tau:airline_3:0": "my-agent"}
        # a store from before migration 005 kept the system in metadata.system_id: copied into the column
        s.con.execute("INSERT INTO conversations (conversation_id, metadata) VALUES ('old', '{\"system_id\": \"v1\"}')")
        s.con.execute(open(__import__("auditor.store.migrations", fromlist=["x"]).__path__[0]
                           + "/005_systems.sql").read().replace("ALTER TABLE conversations ADD COLUMN system_id "
                                                                "VARCHAR;", ""))
        assert s.con.execute("SELECT system_id FROM conversations WHERE conversation_id = 'old'").fetchall() == \
            [("v1",)]
        assert "system_id" in s.sql("SELECT * FROM signals_long LIMIT 0").columns
        assert "system_id" in s.sql("SELECT * FROM paired LIMIT 0").columns


def test_report_shows_the_system_ranking_and_the_panel_rows(hanna_db, tmp_path):
    import shutil

    from auditor.panel import create_panel
    from auditor.report import write_report

    db = tmp_path / "h.duckdb"
    shutil.copy(hanna_db, db)
    with Store(db) as s:
        create_panel(s, "trio", ["Beluga-13B:p1", "ChatGPT:p1", "OrcaPlatypus:p1"], "median")
        rows = audit(s, AuditOptions(rubric="hanna", dimensions=["coherence"], n_boot=100,
                                     llm=["trio", "Beluga-13B:p1"]))
        paths = write_report(s, str(tmp_path / "r.html"), audit_rows=rows, n_boot=100, seed=0)
    html = open(paths["html"], encoding="utf-8").read()
    md = open(paths["md"], encoding="utf-8").read()
    data = json.load(open(paths["json"], encoding="utf-8"))
    tau = rows[(rows.rater == "trio") & (rows.statistic == "system_kendall_tau_b")].value.iloc[0]
    assert 'id="systems-0"' in html and "System ranking" in md
    assert f"{tau:.3f}" in html and f"{tau:.3f}" in md
    ranks = data["rubrics"][0]["systems"]["ranks"]
    assert {r["rater"] for r in ranks} == {"trio", "Beluga-13B:p1"}
    means = data["rubrics"][0]["systems"]["means"][0]["systems"]
    assert len(means) == 11 and means[0]["human"]["value"] >= means[-1]["human"]["value"]
    assert "panel_effective_judges" in html                     # in the rater's extra rows
    assert "mean pairwise Cohen" in html                         # the humans' pairwise convention


def test_system_id_in_a_signals_file(tmp_path):
    from auditor.errors import IngestError

    def csv(name, text):
        (tmp_path / name).write_text("conversation_id,rater_id,rater_kind,dimension,value,agent\n" + text,
                                     encoding="utf-8")
        return str(tmp_path / name)

    with Store(tmp_path / "s.duckdb") as s:
        res = s.ingest_signals(csv("a.csv", "c1,h,human,score,3,A\nc2,h,human,score,4,B\n"), rubric="likert5",
                               mapping={"agent": "system_id"})
        assert any("2 conversation(s) got their system_id" in n for n in res.notes)
        got = dict(s.con.execute("SELECT conversation_id, system_id FROM conversations").fetchall())
        assert got == {"c1": "A", "c2": "B"}
        before = s.sql("SELECT * FROM signals ORDER BY ALL").to_csv()
        with pytest.raises(IngestError, match=r"row 2, field 'agent'.*has system 'Y' here but 'Z' at row 1"):
            s.ingest_signals(csv("b.csv", "c9,h2,human,score,3,Z\nc9,h3,human,score,3,Y\n"), rubric="likert5",
                             mapping={"agent": "system_id"})
        with pytest.raises(IngestError, match="already stored with system 'A'.*--replace"):
            s.ingest_signals(csv("c.csv", "c1,h2,human,score,3,Z\n"), rubric="likert5", mapping={"agent": "system_id"})
        assert s.sql("SELECT * FROM signals ORDER BY ALL").to_csv() == before           # nothing was loaded
        s.ingest_signals(csv("c.csv", "c1,h2,human,score,3,Z\n"), rubric="likert5", mapping={"agent": "system_id"},
                         replace=True)
        assert s.con.execute("SELECT system_id FROM conversations WHERE conversation_id = 'c1'").fetchall() == \
            [("Z",)]


def test_cli_statistic_rows_are_shown_not_an_empty_table(hanna_db):
    p = subprocess.run([AUDITOR, "--db", str(hanna_db), "audit", "--rubric", "hanna", "--dimension", "coherence",
                        "--statistic", "system_human_mean=Human", "--statistic", "pairwise_agreement",
                        "--bootstrap", "20"], capture_output=True, text=True,
                       env={**__import__("os").environ, "COLUMNS": "200"})
    assert p.returncode == 0, p.stderr
    assert "system_human_mean=Human" in p.stdout and "pairwise_agreement" in p.stdout
    assert "no LLM rater" not in p.stderr
    p = subprocess.run([AUDITOR, "--db", str(hanna_db), "audit", "--rubric", "hanna_issues", "--statistic",
                        "system_kendall_tau_b", "--bootstrap", "20"], capture_output=True, text=True)
    assert p.returncode == 1 and "has no row for --statistic" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([AUDITOR, "--db", str(hanna_db), "demo", "--dataset", "stories"], capture_output=True,
                       text=True)
    assert p.returncode == 1 and "--dataset 'stories': use one of llm-rubric, hanna, all" in p.stderr

"""Design-aware corrected estimates: PPI++ with sample weights equals ppi_py's to 1e-9; with a stratified sample of
unequal inclusion probabilities the weighted interval covers the population mean and the unweighted one does not;
the audit weights campaign labels by their recorded inclusion probabilities, and refuses a design it cannot name."""

from __future__ import annotations


import numpy as np
import pytest

from _campaigns import JUDGE, copy_of, judges_store
from auditor import Store
from auditor.audit import audit
from auditor.campaign import create_campaign, next_item, resolve_annotator, submit
from auditor.stats.corrected import ppi_mean_estimate

ppi_py = pytest.importorskip("ppi_py", reason="ppi_python is in the test extras")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("lam", [None, 0.0, 0.4, 1.0])
def test_weighted_ppi_equals_ppi_py(seed, lam):
    rng = np.random.default_rng(seed)
    n, N = int(rng.integers(5, 80)), int(rng.integers(10, 400))
    y = rng.normal(size=n)
    f = 0.7 * y + rng.normal(scale=0.6, size=n) + 0.3
    fu = rng.normal(0.3, 1.0, size=N)
    w, wu = rng.uniform(0.1, 8, size=n), rng.uniform(0.5, 2, size=N)
    e = ppi_mean_estimate(y, f, fu, w=w, w_unlabelled=wu, lam=lam)
    lo, hi = ppi_py.ppi_mean_ci(y, f, fu, alpha=0.05, w=w, w_unlabeled=wu, lam=lam)
    pt = ppi_py.ppi_mean_pointestimate(y, f, fu, w=w, w_unlabeled=wu, lam=lam)
    assert e.value == pytest.approx(float(np.ravel(pt)[0]), abs=1e-9)
    assert (e.ci_low, e.ci_high) == (pytest.approx(float(np.ravel(lo)[0]), abs=1e-9),
                                     pytest.approx(float(np.ravel(hi)[0]), abs=1e-9))


def test_weighted_intervals_cover_a_stratified_population_and_unweighted_ones_miss():
    """Two strata of 1,000: A sampled at 20 %, B at 4 %; the judge is lenient on A and severe on B."""
    rng = np.random.default_rng(2024)
    reps, cover_w, cover_u = 600, 0, 0
    for _ in range(reps):
        ya, yb = rng.normal(1.0, 1.0, 1000), rng.normal(3.0, 1.0, 1000)
        fa, fb = ya + 0.6 + rng.normal(0, 0.5, 1000), yb - 0.6 + rng.normal(0, 0.5, 1000)
        y_all, f_all = np.concatenate([ya, yb]), np.concatenate([fa, fb])
        truth = y_all.mean()
        ia, ib = rng.choice(1000, 200, replace=False), 1000 + rng.choice(1000, 40, replace=False)
        lab = np.concatenate([ia, ib])
        pi = np.concatenate([np.full(200, 0.2), np.full(40, 0.04)])
        strata = np.array(["A"] * 200 + ["B"] * 40)
        weighted = ppi_mean_estimate(y_all[lab], f_all[lab], f_all, w=1 / pi, strata=strata)
        rest = np.setdiff1d(np.arange(2000), lab)
        plain = ppi_mean_estimate(y_all[lab], f_all[lab], f_all[rest])
        cover_w += weighted.ci_low <= truth <= weighted.ci_high
        cover_u += plain.ci_low <= truth <= plain.ci_high
    rate_w, rate_u = cover_w / reps, cover_u / reps
    assert 0.93 <= rate_w <= 0.97, rate_w          # seen: 0.945-0.950 over four seeds
    assert rate_u < 0.5, rate_u                     # seen: 0.0 (the unweighted estimate is biased)


@pytest.fixture(scope="module")
def base_db(tmp_path_factory):
    return judges_store(tmp_path_factory.mktemp("design") / "base.duckdb", xss=False)


def _answer(store, made, value=lambda conv, i: str(1 + (len(conv) + i) % 4)):
    for name, tok in made.annotators.items():
        who = resolve_annotator(store, tok)
        while (item := next_item(store, who)) is not None:
            conv = item["conversation"]["conversation_id"]
            submit(store, who, item["item_id"], {f"Q{i}": value(conv, i) for i in range(9)})


def test_the_audit_weights_a_stratified_campaign_and_refuses_a_mixed_design(base_db, tmp_path):
    with Store(copy_of(base_db, tmp_path)) as s:
        made = create_campaign(s, "strat", rubric="llm_rubric", annotators="alice", overlap=1,
                               stratify_by="llm_score", sample=30, seed=5)
        probs = s.sql("SELECT DISTINCT inclusion_prob FROM campaign_items")["inclusion_prob"]
        assert probs.nunique() > 1                                   # unequal: weights matter
        _answer(s, made, lambda conv, i: str(1 + (ord(conv[-1]) + i) % 4))
        rows = audit(s, n_boot=20, dimensions=["Q0"], statistics=["ppi_mean", "rogan_gladen_rate"])
        ppi = rows[(rows.rater == JUDGE) & (rows.statistic == "ppi_mean")].iloc[0]
        assert "design-weighted (inclusion probabilities of campaign strat" in ppi.note
        assert "stratified design variance" in ppi.note
        # the same number from the store's data by hand
        lab = s.sql("SELECT i.conversation_id, i.inclusion_prob, h.value AS y, j.value AS f FROM campaign_items i "
                    "JOIN signals h ON h.conversation_id = i.conversation_id AND h.rater_id = 'alice' AND "
                    "h.dimension = 'Q0' JOIN signals j ON j.conversation_id = i.conversation_id AND j.rater_id = ? "
                    "AND j.dimension = 'Q0' WHERE h.status = 'ok'", [JUDGE])
        f_all = s.sql("SELECT value FROM signals WHERE rater_id = ? AND dimension = 'Q0' AND status = 'ok'",
                      [JUDGE])["value"].to_numpy()
        strata = s.sql("SELECT conversation_id, 'strat:' || coalesce(stratum, '') AS h FROM campaign_items")
        lab = lab.merge(strata, on="conversation_id")
        want = ppi_mean_estimate(lab.y, lab.f, f_all, w=1 / lab.inclusion_prob, strata=lab.h.to_numpy())
        assert ppi.value == pytest.approx(want.value, abs=1e-12) and ppi.n == f_all.size
        assert (ppi.ci_low, ppi.ci_high) == (pytest.approx(want.ci_low, abs=1e-12), pytest.approx(want.ci_high,
                                                                                                 abs=1e-12))
        # the same campaign audited alone gives the same estimate (its slice keeps the LLM-only conversations)
        from auditor.campaign import campaign_audit
        alone = campaign_audit(s, "strat", None)
        a = alone[(alone.rater == JUDGE) & (alone.statistic == "ppi_mean") & (alone.dimension == "Q0")].iloc[0]
        assert a.value == pytest.approx(ppi.value, abs=1e-12)
        # labels from outside the weighted design make the combination undefined: refused, with the fix
        extra = create_campaign(s, "more", rubric="llm_rubric", annotators="bob", overlap=1, sample=5, seed=9,
                                where="conversation_id NOT IN (SELECT conversation_id FROM campaign_items)")
        _answer(s, extra)
        s.con.execute("UPDATE campaign_items SET inclusion_prob = NULL WHERE campaign = 'more'")
        rows = audit(s, n_boot=20, dimensions=["Q0"], statistics=["ppi_mean"])
        ppi = rows[(rows.rater == JUDGE) & (rows.statistic == "ppi_mean")].iloc[0]
        assert np.isnan(ppi.value) and "refused: the labelled conversations mix" in ppi.note
        assert "auditor audit --campaign strat" in ppi.note


def test_weighted_rogan_gladen_covers_a_stratified_population_and_unweighted_misses():
    """Binary outcome, two strata of 2,000: A (prevalence 0.7, the judge's TPR 0.95 / TNR 0.6) sampled at 20 %,
    B (prevalence 0.3, TPR 0.6 / TNR 0.95) at 4 %. Weighted TPR/TNR estimate the population's, so the weighted
    Rogan-Gladen interval covers the population prevalence; the unweighted one over-represents A and misses.
    400 replications, B = 200."""
    from auditor.stats.corrected import rogan_gladen_rate

    rng = np.random.default_rng(7)
    sizes, prev, tpr, tnr, pi = (2000, 2000), (0.7, 0.3), (0.95, 0.6), (0.6, 0.95), (0.2, 0.04)
    reps, cover_w, cover_u, err_w, err_u = 400, 0, 0, [], []
    for r in range(reps):
        y, f, lab, h = [], [], [], []
        for s in (0, 1):
            ys = rng.random(sizes[s]) < prev[s]
            fs = np.where(ys, rng.random(sizes[s]) < tpr[s], rng.random(sizes[s]) >= tnr[s])
            y.append(ys)
            f.append(fs)
            lab.append(rng.random(sizes[s]) < pi[s])
            h.append(np.full(sizes[s], s))
        y, f, lab, h = (np.concatenate(a) for a in (y, f, lab, h))
        truth = y.mean()
        w = 1 / np.where(h == 0, pi[0], pi[1])[lab]
        rw = rogan_gladen_rate(f.astype(float), f[lab].astype(float), y[lab].astype(float), n_boot=200, seed=r,
                               w=w, strata=h[lab])
        ru = rogan_gladen_rate(f.astype(float), f[lab].astype(float), y[lab].astype(float), n_boot=200, seed=r)
        cover_w += rw.ci_low <= truth <= rw.ci_high
        cover_u += ru.ci_low <= truth <= ru.ci_high
        err_w.append(rw.value - truth)
        err_u.append(ru.value - truth)
    print(f"weighted coverage {cover_w / reps:.3f}, unweighted {cover_u / reps:.3f}")
    assert 0.93 <= cover_w / reps <= 0.97, cover_w / reps
    assert cover_u / reps < 0.5, cover_u / reps
    assert abs(np.mean(err_w)) < 0.01 < abs(np.mean(err_u))
    assert "weighted by 1 / inclusion probability" in rw.note and "within the design's strata" in rw.note
    # equal weights and no strata: the unweighted estimate, exactly
    same = rogan_gladen_rate(f.astype(float), f[lab].astype(float), y[lab].astype(float), n_boot=0,
                             w=np.full(int(lab.sum()), 3.0))
    assert same.value == pytest.approx(rogan_gladen_rate(f.astype(float), f[lab].astype(float),
                                                         y[lab].astype(float), n_boot=0).value, abs=1e-12)


def test_a_signals_file_with_inclusion_probabilities_is_design_weighted(tmp_path):
    """Imported labels with inclusion_prob / stratum columns weigh like a stratified campaign's."""
    import pandas as pd

    from auditor.errors import IngestError

    rng = np.random.default_rng(3)
    n = 400
    stratum = np.where(np.arange(n) < 200, "A", "B")
    truth = np.where(stratum == "A", rng.integers(3, 6, n), rng.integers(1, 4, n))
    llm = np.clip(truth + np.where(stratum == "A", 1, -1) * (rng.random(n) < 0.5), 1, 5)
    pi = np.where(stratum == "A", 0.3, 0.05)
    lab = rng.random(n) < pi
    judge = pd.DataFrame({"conversation_id": [f"c{i}" for i in range(n)], "rater_id": "judge",
                          "rater_kind": "judge", "dimension": "score", "value": llm})
    humans = pd.DataFrame({"conversation_id": [f"c{i}" for i in np.flatnonzero(lab)], "rater_id": "h",
                           "rater_kind": "human", "dimension": "score", "value": truth[lab],
                           "inclusion_prob": pi[lab], "stratum": stratum[lab]})
    f = tmp_path / "humans.csv"
    humans.to_csv(f, index=False)
    with Store(tmp_path / "d.duckdb") as s:
        s.ingest_signals(judge, rubric="likert5", source_name="judge")
        res = s.ingest_signals(str(f), rubric="likert5")
        assert any("inclusion probability from the file" in x for x in res.notes)
        assert s.ingest_signals(str(f), rubric="likert5").batch_id is None            # idempotent
        rows = audit(s, n_boot=50, statistics=["ppi_mean"])
        ppi = rows[rows.statistic == "ppi_mean"].iloc[0]
        assert "design-weighted" in ppi.note and "file" in ppi.note
        want = ppi_mean_estimate(truth[lab].astype(float), llm[lab].astype(float), llm.astype(float), w=1 / pi[lab],
                                 strata=np.array([f"file {f}:{h}" for h in stratum[lab]]))
        assert ppi.value == pytest.approx(want.value, abs=1e-12)
        assert (ppi.ci_low, ppi.ci_high) == (pytest.approx(want.ci_low, abs=1e-12),
                                             pytest.approx(want.ci_high, abs=1e-12))
        # wrong inputs: named, nothing loaded
        bad = humans.copy()
        bad.loc[bad.index[1], "inclusion_prob"] = 1.5
        with pytest.raises(IngestError, match=r"row 2, field 'inclusion_prob': inclusion_prob '1.5' is not a "
                                              r"probability in \(0, 1\]"):
            s.ingest_signals(bad.assign(rater_id="h2"), rubric="likert5", source_name="bad")
        other = humans.assign(rater_id="h3", inclusion_prob=0.5)
        with pytest.raises(IngestError, match="already stored with inclusion probability"):
            s.ingest_signals(other, rubric="likert5", source_name="other")
        assert s.sql("SELECT count(*) AS n FROM signals WHERE rater_id IN ('h2', 'h3')").n[0] == 0


def test_inclusion_probabilities_belong_to_human_labels(tmp_path):
    import pandas as pd

    from auditor.errors import IngestError

    judge = pd.DataFrame({"conversation_id": ["a", "b"], "rater_id": "j", "dimension": "score", "value": [1, 2],
                          "inclusion_prob": [0.5, 0.5]})
    with Store(tmp_path / "k.duckdb") as s:
        with pytest.raises(IngestError, match="no human ratings in the file"):
            s.ingest_signals(judge, rubric="likert5", rater_kind="judge", source_name="judge")
        mixed = pd.DataFrame({"conversation_id": ["a", "a", "b"], "rater_id": ["h", "j", "j"],
                              "rater_kind": ["human", "judge", "judge"], "dimension": "score", "value": [1, 2, 3],
                              "inclusion_prob": [0.5, 0.9, 0.9]})
        s.ingest_signals(mixed, rubric="likert5", source_name="mixed")
        assert s.sql("SELECT conversation_id, inclusion_prob FROM label_designs").values.tolist() == [["a", 0.5]]

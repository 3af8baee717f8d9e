"""`write_report` and `auditor report`: files, same numbers in HTML / Markdown / JSON, verdict rules, escaping,
self-containment, determinism, the demo (no human ceiling) and the matched design (outcome calibration)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _report_store import CLOSE_JUDGE, EVIL_JUDGE, MARKER, build_store
from auditor import AuditorError, Store
from auditor.audit import AuditOptions, audit
from auditor.cli import app
from auditor.report import render_html, render_markdown, report_paths, write_report
from auditor.report._disagreements import excerpt
from auditor.report._format import fmt, fmt_cell
from auditor.report._plots import to_svg
from auditor.report._rows import RowIndex
from auditor.report._verdict import dimension_status, verdict

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "tau_usi"
B = 100          # bootstrap resamples in these tests
FIXED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
runner = CliRunner()


# ---------------------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report_db(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("report") / "store.duckdb")


@pytest.fixture(scope="module")
def rows(report_db) -> pd.DataFrame:
    with Store(report_db, read_only=True) as s:
        return audit(s, AuditOptions(n_boot=B, seed=3))


@pytest.fixture(scope="module")
def written(report_db, rows, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("out") / "agreement.html"
    with Store(report_db, read_only=True) as s:
        paths = write_report(s, out, audit_rows=rows, n_boot=B, seed=3, title=f"Report {EVIL_JUDGE}",
                             created_at=FIXED)
    return {k: Path(v) for k, v in paths.items()}


@pytest.fixture(scope="module")
def html(written) -> str:
    return written["html"].read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def md(written) -> str:
    return written["md"].read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def data(written) -> dict:
    return json.loads(written["json"].read_text(encoding="utf-8"))


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser's parser sees them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    return p


# ---------------------------------------------------------------------------------------------------------
# files and numbers
# ---------------------------------------------------------------------------------------------------------

def test_report_paths():
    assert report_paths("reports/demo.html") == {"html": Path("reports/demo.html"), "md": Path("reports/demo.md"),
                                                 "json": Path("reports/demo.json")}
    assert report_paths("out/run1")["html"] == Path("out/run1.html")


def test_writes_three_files(written):
    for k in ("html", "md", "json"):
        assert written[k].is_file() and written[k].stat().st_size > 1000
    assert written["html"].with_suffix(".md") == written["md"]


def test_json_holds_the_audit_rows_unchanged(data, rows):
    got = pd.DataFrame(data["rows"])
    assert list(got.columns) == list(rows.columns)
    assert len(got) == len(rows)
    a = pd.to_numeric(got["value"]).to_numpy(dtype=float)
    b = rows["value"].to_numpy(dtype=float)
    assert np.allclose(a, b, equal_nan=True)
    assert data["settings"]["n_boot"] == B and data["settings"]["seed"] == 3


def test_same_numbers_in_html_md_and_json(data, html, md):
    """Every agreement cell is rendered from the JSON values with one formatter, in both documents."""
    import html as htmllib

    page = htmllib.unescape(re.sub(r"<[^>]+>", " ", html))
    page = " ".join(page.split())
    n_checked = 0
    for rub in data["rubrics"]:
        for sec in rub["raters"]:
            for r in sec["agreement"]["rows"]:
                for c in sec["agreement"]["columns"]:
                    cell = r["cells"][c["key"]]
                    text = fmt_cell(cell, c["statistic"], signed=c["signed"])
                    assert text == r["text"][c["key"]]
                    if text == "n/a":
                        continue
                    assert text in md, (sec["rater"], r["dimension"], c["key"], text)
                    assert fmt(cell["value"], c["statistic"], signed=c["signed"]) in page
                    n_checked += 1
    assert n_checked > 20
    for r in data["leaderboard"]:
        if r["eval"] is not None:
            assert fmt(r["eval"], "eval_score") in page and fmt(r["eval"], "eval_score") in md


def test_agreement_cells_are_the_audit_rows(data, rows):
    idx = RowIndex(rows)
    sec = next(s for s in data["rubrics"][0]["raters"] if s["rater"] == CLOSE_JUDGE)
    for r in sec["agreement"]["rows"]:
        want = idx.cell(CLOSE_JUDGE, "xss_demo", r["dimension"], "krippendorff_alpha")
        got = r["cells"]["alpha"]
        if want is None:
            assert got is None
            continue
        assert got["value"] == pytest.approx(want["value"]) and got["ci_low"] == pytest.approx(want["ci_low"])
        ceil = r["cells"].get("ceiling_alpha")
        if r["dimension"] != "all":
            assert ceil["value"] == pytest.approx(idx.cell("human_loo", "xss_demo", r["dimension"],
                                                           "krippendorff_alpha")["value"])


def test_provenance(data, report_db):
    p = data["provenance"]
    assert p["store"] == str(report_db.resolve())
    assert p["versions"]["auditor"] and p["versions"]["duckdb"] and p["versions"]["matplotlib"]
    assert p["created_at"] == FIXED.isoformat(timespec="seconds")
    assert {b["kind"] for b in p["ingest_batches"]} == {"conversations", "signals"}
    assert p["judge_configs"][0]["config_hash"] == "cafe1234"
    assert {r["rater_id"] for r in p["raters"]} >= {CLOSE_JUDGE, EVIL_JUDGE, "human-a"}
    assert p["runs"][0]["cost_usd"] == pytest.approx(0.5)
    assert p["counts"]["conversations"] == 40


def test_sections_present(html, md):
    for heading in ("Verdicts", "Leaderboard", "Agreement per dimension", "Answer distributions",
                    "Confusion matrices and calibration", "Largest disagreements", "Provenance", "All audit rows"):
        assert heading in html
    for heading in ("## Verdicts", "## Leaderboard", "## Agreement per dimension", "## Largest disagreements",
                    "## Provenance"):
        assert heading in md
    assert html.count("<svg") >= 6     # alpha, bias, distributions, 2x confusion, reliability


def test_disagreements_have_excerpt_answers_and_rationale(data):
    sec = next(s for s in data["rubrics"][0]["raters"] if s["rater"] == CLOSE_JUDGE)
    dd = sec["disagreements"]
    assert dd["n_scored"] == 40 and len(dd["items"]) == 10          # the default --top
    scores = [it["score"] for it in dd["items"]]
    assert scores == sorted(scores, reverse=True)
    it = dd["items"][0]
    assert it["excerpt"]["messages"] and {"role", "content"} <= set(it["excerpt"]["messages"][0])
    assert all(a["rationale"] and "the answer fits" in a["rationale"] for a in it["answers"])
    assert all("(human-" in a["human"] for a in it["answers"])
    # the score is the mean |LLM - human| as a share of the scale over the dimensions
    assert it["score"] == pytest.approx(np.mean([abs(a["diff"]) for a in it["answers"]]))


def test_excerpt_cuts_long_conversations():
    msgs = [{"role": "user" if i % 2 else "assistant", "content": f"m{i} " + "x" * 900} for i in range(20)]
    ex = excerpt(json.dumps(msgs))
    assert ex["total"] == 20 and ex["omitted"] == 15 and ex["omitted_at"] == 3
    assert [m["content"][:3] for m in ex["messages"]] == ["m0 ", "m1 ", "m2 ", "m18", "m19"]
    assert all(m["clipped"] and len(m["content"]) <= 400 for m in ex["messages"])
    assert excerpt(None)["messages"] == [] and excerpt("plain text")["messages"][0]["content"] == "plain text"


def test_reliability_matches_the_audit_ece(data, rows):
    sec = next(s for s in data["rubrics"][0]["raters"] if s["rater"] == CLOSE_JUDGE)
    rel = sec["reliability"]
    assert rel is not None and rel["pooled"]["n"] == 120
    idx = RowIndex(rows)
    for p in rel["dimensions"]:
        assert p["ece"] == pytest.approx(idx.cell(CLOSE_JUDGE, "xss_demo", p["dimension"], "ece")["value"])
        assert sum(b["n"] for b in p["bins"]) == p["n"]
    evil = next(s for s in data["rubrics"][0]["raters"] if s["rater"] == EVIL_JUDGE)
    assert evil["reliability"] is None          # no confidences stored


def test_confusion_counts(data):
    sec = next(s for s in data["rubrics"][0]["raters"] if s["rater"] == EVIL_JUDGE)
    for m in sec["confusion"]:
        assert np.sum(m["counts"]) == m["n"] == 40
        assert len(m["counts"]) == len(m["labels"])


# ---------------------------------------------------------------------------------------------------------
# verdict rules (hand-made rows)
# ---------------------------------------------------------------------------------------------------------

def _rows(spec: list[tuple]) -> RowIndex:
    recs = [dict(rater=r, reference="humans", design=d, rubric="R", dimension=dim, level="ordinal", statistic=st,
                 value=v, ci_low=lo, ci_high=hi, n=50, note=note)
            for r, d, dim, st, v, lo, hi, note in spec]
    return RowIndex(pd.DataFrame(recs))


def test_status_against_the_ceiling():
    ceil = ("human_loo", "paired", "q", "krippendorff_alpha", 0.7, 0.6, 0.8, "")
    rows = _rows([ceil, ("J", "paired", "q", "krippendorff_alpha", 0.65, 0.5, 0.8, "")])
    assert dimension_status(rows, "J", "R", "q", "paired")[0] == "within"
    rows = _rows([ceil, ("J", "paired", "q", "krippendorff_alpha", 0.55, 0.4, 0.7, "")])
    status, reason = dimension_status(rows, "J", "R", "q", "paired")
    assert status == "below" and "below the human-vs-human interval" in reason
    def alt(passed, a):
        return _rows([ceil, ("J", "paired", "q", "krippendorff_alpha", a, a - 0.1, a + 0.05, ""),
                      ("J", "paired", "q", "alt_test_passed", passed, np.nan, np.nan, ""),
                      ("J", "paired", "q", "alt_test_winning_rate", 0.25 + passed / 2, np.nan, np.nan, "")])

    # either criterion puts a dimension within the ceiling; the reason names both outcomes
    status, reason = dimension_status(alt(0.0, 0.9), "J", "R", "q", "paired")
    assert status == "within" and "alt-test failed (winning rate 0.250)" in reason and "above" in reason
    status, reason = dimension_status(alt(1.0, 0.3), "J", "R", "q", "paired")
    assert status == "within" and "alt-test passed (winning rate 0.750)" in reason and "below" in reason
    assert dimension_status(alt(0.0, 0.3), "J", "R", "q", "paired")[0] == "below"
    # the alt-test alone (no alpha ceiling) is enough to judge
    rows = _rows([("J", "paired", "q", "alt_test_passed", 1.0, np.nan, np.nan, "")])
    assert dimension_status(rows, "J", "R", "q", "paired")[0] == "within"


def test_status_without_a_ceiling_uses_conventional_thresholds():
    nan_ceil = ("human_loo", "paired", "q", "krippendorff_alpha", np.nan, np.nan, np.nan,
                "ordinal; undefined: no conversation has two or more human ratings, so there is no human ceiling")
    for a, want in ((0.85, "reliable"), (0.70, "tentative"), (0.30, "low")):
        rows = _rows([nan_ceil, ("J", "paired", "q", "krippendorff_alpha", a, np.nan, np.nan, "")])
        assert dimension_status(rows, "J", "R", "q", "paired")[0] == want
    rows = _rows([nan_ceil, ("J", "paired", "q", "krippendorff_alpha", np.nan, np.nan, np.nan, "x is constant")])
    assert dimension_status(rows, "J", "R", "q", "paired") == ("undefined", "x is constant")
    rows = _rows([nan_ceil, ("J", "paired", "q", "krippendorff_alpha", 0.3, 0.2, 0.4, "")])
    v = verdict(rows, "J", "R", ["q"], "paired", info={}, ranges={"q": (1, 5)})
    assert v["basis"] == "conventional thresholds" and v["tone"] == "bad"
    assert "single human rating" in " ".join(v["sentences"]) and "conventional" in " ".join(v["sentences"])


def test_status_matched_against_the_batch_floor():
    floor = ("human_loo", "matched", "q", "wasserstein", 0.3, 0.1, 0.5, "")
    rows = _rows([floor, ("S", "matched", "q", "wasserstein", 0.45, 0.3, 0.6, "")])
    assert dimension_status(rows, "S", "R", "q", "matched")[0] == "within"
    rows = _rows([floor, ("S", "matched", "q", "wasserstein", 0.9, 0.7, 1.1, "")])
    assert dimension_status(rows, "S", "R", "q", "matched")[0] == "below"
    rows = _rows([("S", "matched", "q", "wasserstein", 0.9, 0.7, 1.1, "")])
    assert dimension_status(rows, "S", "R", "q", "matched")[0] == "undefined"


def test_bias_sentence_names_lenient_dimensions():
    rows = _rows([("J", "paired", "q", "krippendorff_alpha", 0.9, 0.8, 0.95, ""),
                  ("J", "paired", "q", "mean_diff", 0.8, 0.5, 1.1, ""),
                  ("J", "paired", "r", "krippendorff_alpha", 0.9, 0.8, 0.95, ""),
                  ("J", "paired", "r", "mean_diff", -0.1, -0.3, 0.1, "")])
    v = verdict(rows, "J", "R", ["q", "r"], "paired", info={}, ranges={"q": (1, 5), "r": (1, 5)})
    text = " ".join(v["sentences"])
    assert "more lenient than the humans on q (+0.800 points [0.50, 1.10])" in text and " on r " not in text
    assert v["headline"] == "Reliable on all 2 dimensions" and v["tone"] == "good"


# ---------------------------------------------------------------------------------------------------------
# escaping and self-containment
# ---------------------------------------------------------------------------------------------------------

def test_html_has_no_scripts_no_handlers_no_external_references(html):
    p = _parse(html)
    names = {t for t, _ in p.tags}
    assert not names & {"script", "iframe", "object", "embed", "link", "img", "base", "form", "audio", "video"}
    for tag, attrs in p.tags:
        for k, v in attrs.items():
            assert not k.startswith("on"), (tag, k, v)
            if k in ("href", "xlink:href", "src", "action", "formaction"):
                assert (v or "").startswith("#"), (tag, k, v)
    assert not re.search(r"url\((?!#)", html)
    assert "@import" not in html and "@font-face" not in html
    csp = [a["content"] for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "script-src" not in csp[0]


def test_payloads_are_escaped_text(html):
    assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert "&lt;script&gt;alert(1)" in html                   # conversation text and the judge's name
    assert "&lt;img src=x onerror=" in html                  # rationale and conversation
    assert "1 &lt;b&gt;awful&lt;/b&gt;" in html               # option label (tables and the SVG tick labels)
    text = "".join(_parse(html).text)
    assert f"{MARKER} <script>alert(1);document.title='pwned'</script>" in text
    assert "judge <script>alert(1)</script>" in text
    assert "<b>" not in [t for t, _ in _parse(html).tags]


def test_svg_ids_are_unique_and_internal(html):
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    for ref in re.findall(r'(?:url\(#|href="#)([^)"]+)', html):
        assert ref in set(ids), ref
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html and "<metadata" not in html


def test_markdown_is_escaped(md):
    assert "<script" not in md and "<img" not in md and "<b>" not in md and "<svg" not in md
    assert "&lt;script&gt;alert(1)" in md
    for line in md.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            # escaped pipes never split a cell: every row of a table has as many cells as its header
            cells = re.split(r"(?<!\\)\|", line)
            assert len(cells) >= 3
    tables = re.findall(r"((?:^\|.*\n)+)", md, flags=re.M)
    for t in tables:
        counts = {len(re.split(r"(?<!\\)\|", row)) for row in t.strip().splitlines()}
        assert len(counts) == 1, t[:300]


def test_json_alone_reproduces_the_html_and_markdown(written, html, md, data):
    """Rendering is deterministic (plots included) and the JSON holds everything the documents show."""
    stem = written["html"].stem
    assert render_html(data, stem=stem) == html
    assert render_markdown(data, stem=stem) == md


def test_to_svg_is_inline_and_prefixed():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.set_title("a <b>&</b> $5$")
    s = to_svg(fig, "k1")
    assert s.startswith("<svg class=\"plot\"") and "<?xml" not in s
    assert all(i.startswith("k1-") for i in re.findall(r'\bid="([^"]+)"', s))
    assert "a &lt;b&gt;&amp;&lt;/b&gt; $5$" in s


# ---------------------------------------------------------------------------------------------------------
# the demo (no ceiling) and the matched design
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_report(demo_db, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("demo") / "demo.html"
    with Store(demo_db, read_only=True) as s:
        paths = write_report(s, out, n_boot=50, seed=0)
    return {"paths": paths, "data": json.loads(Path(paths["json"]).read_text()),
            "html": Path(paths["html"]).read_text()}


def test_demo_report_says_there_is_no_ceiling(demo_report):
    d = demo_report["data"]
    assert len(d["rubrics"]) == 1 and len(d["rubrics"][0]["raters"]) == 2
    for sec in d["rubrics"][0]["raters"]:
        v = sec["verdict"]
        assert v["basis"] == "conventional thresholds"
        assert "No human ceiling" in v["sentences"][0] and "single human rating" in v["sentences"][0]
        assert {x["status"] for x in v["dimensions"]} <= {"reliable", "tentative", "low", "undefined"}
        assert sec["reliability"] is not None        # GPT-3.5's option probabilities
        assert len(sec["confusion"]) == 9
    assert "no human ceiling · conventional α thresholds" in demo_report["html"]
    assert "0.667: tentative (conventional)" in demo_report["html"]        # threshold lines in the α plot


@pytest.fixture(scope="module")
def matched_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("tau") / "tau.duckdb"
    with Store(db) as s:
        s.ingest_tau_usi(EXAMPLE / "human_annotations_synthetic.json", kind="human")
        s.ingest_tau_usi(EXAMPLE / "sim-synthetic.json", kind="simulator")
    return db


def test_matched_report_has_outcome_calibration(matched_db, tmp_path):
    with Store(matched_db, read_only=True) as s:
        paths = write_report(s, tmp_path / "m.html", n_boot=50)
    d = json.loads(Path(paths["json"]).read_text())
    sec = d["rubrics"][0]["raters"][0]
    assert sec["design"] == "matched" and sec["rater"] == "sim-synthetic"
    oc = sec["outcome"]
    assert oc["n_tasks"] == 6 and sum(b["n_tasks"] for b in oc["bins"]) == 6
    assert oc["pooled_ece"] == pytest.approx(sum(b["weight"] * abs(b["gap"]) for b in oc["bins"] if b["n_tasks"]))
    assert oc["audit_outcome_ece"]["value"] is not None
    assert any("Outcome ECE" in s for s in sec["verdict"]["sentences"])
    assert all(it["task_id"] for it in sec["disagreements"]["items"])
    assert all("same task" in a["human"] for a in sec["disagreements"]["items"][0]["answers"])
    html = Path(paths["html"]).read_text()
    assert "Outcome calibration by task difficulty" in html and "between human batches" in html


def test_write_report_refuses_empty_rows(report_db, tmp_path):
    with Store(report_db, read_only=True) as s, pytest.raises(AuditorError, match="nothing to report"):
        write_report(s, tmp_path / "x.html", audit_rows=pd.DataFrame(columns=["rater"]))


# ---------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------

def test_cli_report(report_db, tmp_path):
    out = tmp_path / "sub" / "r.html"
    r = runner.invoke(app, ["--db", str(report_db), "report", "--out", str(out), "--bootstrap", "30", "--top", "2",
                            "--title", "CLI report"])
    assert r.exit_code == 0, r.output
    assert "report:" in r.output and out.is_file() and out.with_suffix(".md").is_file()
    d = json.loads(out.with_suffix(".json").read_text())
    assert d["title"] == "CLI report" and d["settings"]["n_boot"] == 30
    assert all(len(s["disagreements"]["items"]) == 2 for s in d["rubrics"][0]["raters"])


def test_cli_report_errors(report_db, tmp_path):
    r = runner.invoke(app, ["--db", str(report_db), "report", "--out", str(tmp_path / "x.html"), "--ci", "nope"])
    assert r.exit_code == 1 and "--ci" in r.output
    r = runner.invoke(app, ["--db", str(tmp_path / "missing.duckdb"), "report"])
    assert r.exit_code == 1 and "no store here" in r.output


def test_cli_help_texts():
    for cmd, flags in (("report", ["--out", "--bootstrap", "--top"]), ("compare", ["--sort", "--vs", "--json"])):
        r = runner.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0, r.output
        assert all(f in r.output for f in flags)
    r = runner.invoke(app, ["--help"])
    assert "report" in r.output and "compare" in r.output


@pytest.mark.slow   # over 10 s (a whole CLI session): CI runs it with -m slow
def test_demo_writes_the_report(tmp_path):
    out = tmp_path / "reports" / "demo.html"
    r = runner.invoke(app, ["--db", str(tmp_path / "demo.duckdb"), "demo", "--bootstrap", "30", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and out.with_suffix(".md").is_file() and out.with_suffix(".json").is_file()
    assert "report:" in r.output and "demo.html" in r.output.replace("\n", "")

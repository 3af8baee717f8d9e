"""The demo report's layout in headless Chromium at a wide (1400 px) and a narrow (760 px) window: the page is never
wider than the window, only scroll containers may hold something wider, the nav stays inside its box, the
leaderboard and the per-dimension tables show every column without scrolling, and the plots use the column.

The report is built with `auditor report` from the demo store (fixture ``demo_db``: LLM-Rubric, two judges whose
expected value and argmax share one set of option probabilities); the page-width and table checks also run on the
synthetic store of tests/_report_store.py (three humans per conversation, so the humans' agreement table has every
column; HTML payloads as long names). Set AUDITOR_SCREENSHOT_DIR to keep the full-page screenshots
(report-demo-1400.png, ...). Skips when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _browser import Browser, chromium_path
from _report_store import build_store
from auditor import Store
from auditor.cli import app
from auditor.report import write_report

pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="headless Chromium not found at /usr/bin/chromium (Debian package "
                                       "`chromium`); the browser tests install nothing")
WIDTHS = (1400, 760)

# Elements (other than those inside a horizontally scrolling or clipping container) that stick out of the window.
OVERFLOW = r"""(() => {
  const W = window.innerWidth, out = [];
  const inScroller = el => { for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; }
    return false; };
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if ((r.right > W + 1 || r.left < -1) && !inScroller(el))
      out.push(`${el.tagName.toLowerCase()}.${el.className && el.className.baseVal === undefined ? el.className : ''}`
               + ` ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  return out.slice(0, 20); })()"""
# Visible table wrappers (not folded in a <details>) whose table is wider than the wrapper (they scroll), named by
# the heading before them.
SCROLLING = r"""[...document.querySelectorAll('.tablewrap')].filter(w => w.offsetParent !== null
  && !w.closest('details') && w.scrollWidth > w.clientWidth + 1).map(w => {
    let h = w.previousElementSibling; while (h && !/^H[1-4]$/.test(h.tagName)) h = h.previousElementSibling;
    return (h ? h.textContent.trim().slice(0, 50) : '?') + ` ${w.scrollWidth}/${w.clientWidth}`; })"""
NAV = r"""(() => { const n = document.querySelector('nav.toc'), b = n.getBoundingClientRect();
  return {fits: n.scrollWidth <= n.clientWidth + 1,
          outside: [...n.querySelectorAll('a')].filter(a => { const r = a.getBoundingClientRect();
            return r.left < b.left - 1 || r.right > b.right + 1 || r.bottom > b.bottom + 1; }).length,
          links: n.querySelectorAll('a').length}; })()"""
# width of each plot as a share of the main column, by the id of its caption
PLOTS = r"""(() => { const m = document.querySelector('main'), cs = getComputedStyle(m);
  const col = m.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  return [...document.querySelectorAll('svg.plot')].map(s => [s.getAttribute('aria-labelledby'),
    s.getBoundingClientRect().width / col, s.getBoundingClientRect().height]); })()"""
EVAL = {"page": "[document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]",
        "overflow": OVERFLOW, "scrolling": SCROLLING, "nav": NAV, "plots": PLOTS,
        "lb_cols": "document.querySelectorAll('#leaderboard + p + .tablewrap thead th').length",
        "rel_notes": "[...document.querySelectorAll('p.small')].filter(p => p.textContent.includes("
                     "'the same forecasts as')).length"}


@pytest.fixture(scope="module")
def demo_report(demo_db, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("layout")
    db = shutil.copy(demo_db, folder / "demo.duckdb")        # `auditor report` records its audit: not in the shared one
    out = folder / "demo.html"
    r = CliRunner().invoke(app, ["--db", str(db), "report", "--bootstrap", "20", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def synthetic_report(tmp_path_factory) -> Path:
    """Three humans on every conversation (so "Agreement among all humans" has all its columns), long names."""
    folder = tmp_path_factory.mktemp("layout-synthetic")
    with Store(build_store(folder / "store.duckdb"), read_only=True) as s:
        return Path(write_report(s, folder / "synthetic.html", n_boot=20, title="Layout")["html"])


@pytest.fixture(scope="module")
def loaded(demo_report, synthetic_report) -> dict:
    folder = os.environ.get("AUDITOR_SCREENSHOT_DIR")
    with Browser() as b:                    # full-page screenshots only when they are kept (they take seconds)
        res = {(name, w): b.load(path, width=w, height=900, evaluate=EVAL, full_page=bool(folder))
               for name, path in (("demo", demo_report), ("synthetic", synthetic_report)) for w in WIDTHS}
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for (name, w), r in res.items():
            (Path(folder) / f"report-{name}-{w}.png").write_bytes(r.screenshot)
    return res


@pytest.fixture(scope="module")
def pages(loaded) -> dict:
    return {w: loaded[("demo", w)] for w in WIDTHS}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("report", ["demo", "synthetic"])
def test_page_is_never_wider_than_the_window(loaded, report, width):
    ev = loaded[(report, width)].evaluated
    doc_w, inner_w, body_w = ev["page"]
    assert inner_w == width
    assert doc_w <= inner_w and body_w <= inner_w, ev["page"]
    assert ev["overflow"] == [], ev["overflow"]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("report", ["demo", "synthetic"])
def test_tables_that_matter_show_every_column(loaded, report, width):
    """Leaderboard, per-dimension agreement, humans' agreement, calibration and disagreement tables fit without
    scrolling at both widths (the raw rows under "All audit rows" are folded away and may scroll in their box)."""
    ev = loaded[(report, width)].evaluated
    assert ev["scrolling"] == [], ev["scrolling"]
    assert ev["lb_cols"] >= 8                               # rater, kind, design, Eval, α, ..., n: none dropped


@pytest.mark.parametrize("width", WIDTHS)
def test_nav_stays_in_its_box(pages, width):
    nav = pages[width].evaluated["nav"]
    assert nav["links"] >= 8 and nav["fits"] and nav["outside"] == 0, nav


def test_plots_use_the_column_at_1400(pages):
    plots = {k: (share, h) for k, share, h in pages[1400].evaluated["plots"]}
    wide = {k: v for k, v in plots.items() if k.endswith(("-alpha-cap", "-bias-cap", "-dist-cap", "-conf-cap"))}
    assert wide and all(share >= 0.75 for share, _ in wide.values()), wide
    rel = [v for k, v in plots.items() if k.endswith("-rel-cap")]
    # one reliability figure: the two raters of the demo share their forecasts; tall enough to read (2 x 5 panels)
    assert len(rel) == 1 and rel[0][0] >= 0.75 and rel[0][1] >= 400, rel
    assert pages[1400].evaluated["rel_notes"] == 1


def test_plots_shrink_to_the_column_at_760(pages):
    assert all(share <= 1.001 for _, share, _ in pages[760].evaluated["plots"])

"""The HTML report in a real browser: Debian's headless Chromium, driven over the DevTools protocol on a pipe
(tests/_browser.py; nothing is installed at run time). Checks: a non-blank screenshot, no console errors, no
network request besides the file itself, the same rendering with JavaScript disabled, and that script / onerror
payloads in conversations, rater names, labels and rationales stay inert text.

Skips (with the reason) when /usr/bin/chromium is absent. Set AUDITOR_SCREENSHOT_DIR to keep the screenshots.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _browser import Browser, chromium_path
from _report_store import EVIL_JUDGE, MARKER, build_store
from auditor import Store
from auditor.cli import app
from auditor.report import write_report

pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="headless Chromium not found at /usr/bin/chromium (Debian package "
                                       "`chromium`); the browser tests install nothing")
TITLE = "Browser test report"


def _image(png: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


def _keep(png: bytes, name: str) -> None:
    folder = os.environ.get("AUDITOR_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(png)


def _assert_not_blank(png: bytes, min_height: int = 900) -> None:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    im = _image(png)
    assert im.width == 1280 and im.height >= min_height
    small = im.resize((160, max(1, im.height // 8)))
    colours = small.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50          # not one flat colour
    dominant = max(colours)[0] / (small.width * small.height)
    assert dominant < 0.95


def _clean_load(res, path: Path) -> None:
    assert res.console_errors == [], res.console_errors
    assert res.dialogs == []
    assert set(res.requests) == {path.resolve().as_uri()}, res.requests


EVAL = {"scripts": "document.scripts.length", "imgs": "document.images.length",
        "svg_onload": "document.querySelectorAll('[onload],[onerror]').length",
        "plots": "document.querySelectorAll('svg.plot').length",
        "text_has_payload": f"document.body.textContent.includes({MARKER!r} + ' <script>alert(1);')",
        "judge_name": f"document.body.textContent.includes({EVIL_JUDGE!r})",
        "width_ok": "document.documentElement.scrollWidth <= window.innerWidth + 1"}


@pytest.fixture(scope="module")
def xss_report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    db = build_store(folder / "store.duckdb")
    with Store(db, read_only=True) as s:
        paths = write_report(s, folder / "xss.html", n_boot=50, title=TITLE)
    return Path(paths["html"])


def test_harness_detects_executing_payloads(tmp_path):
    """Positive control: the checks below would notice a payload that runs and an error in the console."""
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><title>t</title><p>x</p><img src=x onerror=\"document.title='pwned'\">"
                    "<script>console.error('boom')</script>", encoding="utf-8")
    with Browser() as b:
        res = b.load(page, evaluate={"title": "document.title"})
    assert res.title == "pwned" and res.evaluated["title"] == "pwned"
    assert any("boom" in e for e in res.console_errors)
    assert any(u.endswith("/x") for u in res.requests)


def test_payloads_do_not_execute(xss_report):
    with Browser() as b:
        res = b.load(xss_report, evaluate=EVAL)
    _keep(res.screenshot, "report-xss.png")
    assert res.title == TITLE                                 # no onerror / onload / script changed it
    _clean_load(res, xss_report)
    ev = res.evaluated
    assert ev["scripts"] == 0 and ev["imgs"] == 0 and ev["svg_onload"] == 0
    assert ev["text_has_payload"] is True and ev["judge_name"] is True   # shown as text
    assert ev["plots"] >= 6
    assert "&lt;script&gt;alert(1)" in res.dom and "<script>alert" not in res.dom
    _assert_not_blank(res.screenshot)


def test_same_rendering_without_javascript(xss_report):
    from PIL import ImageChops

    with Browser() as b:
        on = b.load(xss_report, full_page=False)
        off = b.load(xss_report, javascript=False, full_page=False)
    assert off.title == on.title == TITLE
    _clean_load(off, xss_report)
    a, c = _image(on.screenshot), _image(off.screenshot)
    assert a.size == c.size
    diff = ImageChops.difference(a, c)
    changed = diff.convert("L").point(lambda v: 255 if v else 0).histogram()[255]
    assert changed / (a.width * a.height) < 0.001
    assert off.dom == on.dom


@pytest.mark.slow   # over 10 s (a whole browser session): CI runs it with -m slow
def test_demo_report_in_the_browser(tmp_path):
    out = tmp_path / "reports" / "demo.html"
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "demo.duckdb"), "demo", "--bootstrap", "100",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file()
    with Browser() as b:
        res = b.load(out, evaluate={"plots": "document.querySelectorAll('svg.plot').length",
                                    "cards": "document.querySelectorAll('section.card').length",
                                    "h2": "[...document.querySelectorAll('h2')].map(h => h.textContent)",
                                    "width_ok": EVAL["width_ok"]})
        top = b.load(out, full_page=False)
    _keep(res.screenshot, "demo-full.png")
    _keep(top.screenshot, "demo-top.png")
    _clean_load(res, out)
    assert res.title == "Agreement report"
    assert res.evaluated["cards"] == 7 and res.evaluated["plots"] >= 7      # 2 LLM-Rubric judges, 5 HANNA judges
    assert {"Verdicts", "Leaderboard", "Largest disagreements: hanna", "Provenance",
            "System ranking: hanna"} <= set(res.evaluated["h2"])
    assert res.evaluated["width_ok"] is True                   # no horizontal page scroll at 1280 px
    _assert_not_blank(res.screenshot, min_height=5000)
    _assert_not_blank(top.screenshot)


def test_browser_helper_cleans_up(tmp_path):
    page = tmp_path / "p.html"
    page.write_text("<!doctype html><title>ok</title><p>hello</p>", encoding="utf-8")
    with Browser() as b:
        profile = b.profile
        assert b.load(page).title == "ok"
    assert not Path(profile).exists() and b.proc.poll() is not None
    assert shutil.which("chromium") or chromium_path()

"""The web app in a real browser: Debian's headless Chromium driven by Playwright (its own browser download is
never used). Three annotators with overlap 2 rate 30 conversations with the keyboard only; the dashboard then shows
the same α as `auditor audit`; script and onerror payloads stay inert text.

Skips (with the reason) when /usr/bin/chromium or Playwright is absent. AUDITOR_SCREENSHOT_DIR keeps screenshots.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from _browser import chromium_path
from _campaigns import JUDGE, Server, judges_store, run_cli
from auditor import Store
from auditor.campaign import create_campaign

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_path() is None, reason="headless Chromium not found at /usr/bin/chromium "
                                 "(Debian package `chromium`); the browser tests install nothing")]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def _keep(page, name: str) -> None:
    folder = os.environ.get("AUDITOR_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=False)


def _key_for(annotator: str, item_id: int, q: int) -> str:
    """What a scripted annotator presses for question q: mostly shared, carol departs on some items."""
    if q == 8 and item_id % 7 == 0:
        return "0"                                               # not applicable
    base = 1 + (item_id * 3 + q) % 4
    if annotator == "carol" and (item_id + q) % 5 == 0:
        base = 1 + base % 4
    return str(base)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
        yield b
        b.close()


@pytest.mark.slow   # over 10 s (a whole browser session): CI runs it with -m slow
def test_three_annotators_rate_thirty_conversations_with_the_keyboard(browser, tmp_path):
    db = judges_store(tmp_path / "store.duckdb")
    with Store(db) as s:
        made = create_campaign(s, "kbd", rubric="llm_rubric", annotators="alice,bob,carol", overlap=2, sample=30,
                               seed=11, where="conversation_id <> 'xss-probe'")
    assert made.loads == {"alice": 20, "bob": 20, "carol": 20}
    problems: list[str] = []
    with Server(db, bootstrap=200) as srv:
        for name, token in made.annotators.items():
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{srv.url}/a/{token}")
            skipped_once = False
            for n in range(1, 40):
                if page.locator("#all-done").count():
                    break
                assert page.locator("#progress").inner_text().endswith("of 20")
                item_id = int(page.locator("#answers").get_attribute("data-api").rsplit("/", 1)[1])
                if name == "bob" and not skipped_once:
                    skipped_once = True
                    with page.expect_navigation():
                        page.keyboard.press("s")                    # skip: it comes back after the others
                    continue
                for q in range(9):
                    page.keyboard.press(_key_for(name, item_id, q))
                if n == 1:
                    _keep(page, f"annotate-{name}.png")
                    assert "Every question is answered" in page.locator("#status").inner_text()
                with page.expect_navigation():
                    page.keyboard.press("Enter")
            assert page.locator("#all-done").count() == 1, f"{name} did not finish"
            page.close()
        assert problems == []
        # the dashboard, opened from the admin link
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{srv.url}/campaigns/kbd?token={made.admin_token}")
        assert "token=" not in page.url                              # moved into a cookie
        _keep(page, "dashboard.png")
        cell = page.locator('#agreement tr[data-rater="humans"][data-dimension="Q0"] td.alpha')
        dash_alpha = cell.inner_text()
        assert page.locator("#progress tbody tr").count() == 3
        page.goto(f"{srv.url}/browse?campaign=kbd&dimension=all")
        _keep(page, "browse.png")
        assert page.locator("#browse tbody tr").count() == 30
        page.close()
    r = run_cli(db, "audit", "--json", "--bootstrap", "200", "--statistic", "krippendorff_alpha")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    loo = [x for x in rows if x["rater"] == "human_loo"]
    assert loo and {x["dimension"] for x in loo} >= {"Q0", "Q8"}
    humans_q0 = next(x for x in rows if x["rater"] == "humans" and x["dimension"] == "Q0")
    assert humans_q0["n"] == 30 and dash_alpha == f"{humans_q0['value']:.3f}"
    assert any(x["rater"] == JUDGE for x in rows)
    with Store(db, read_only=True) as s:
        assert s.sql("SELECT count(*) AS n FROM campaign_assignments WHERE status = 'done'")["n"][0] == 60
        na = s.sql("SELECT count(*) AS n FROM signals WHERE status = 'not_answered' AND dimension = 'Q8'")["n"][0]
        assert na > 0
        secs = s.sql("SELECT min(seconds_spent) AS lo FROM campaign_assignments")["lo"][0]
        assert secs > 0


def test_payloads_in_conversations_stay_inert_in_the_browser(browser, tmp_path):
    db = judges_store(tmp_path / "store.duckdb")
    with Store(db) as s:
        made = create_campaign(s, "xss", rubric="llm_rubric", annotators="eve", overlap=1,
                               where="conversation_id = 'xss-probe'")
    with Server(db, bootstrap=50) as srv:
        page = browser.new_page()
        dialogs, problems = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        for url in (f"{srv.url}/a/{made.annotators['eve']}",
                    f"{srv.url}/browse/conversation?id=xss-probe&token={made.admin_token}"):
            page.goto(url)
            page.wait_for_load_state("load")
            assert page.title() != "pwned" and "XSS-PROBE-91c2" in page.inner_text("body")
            assert page.evaluate("document.querySelectorAll('[onerror], img').length") == 0
            assert page.evaluate("Array.from(document.scripts).every(s => s.src.endsWith('/static/annotate.js'))")
        page.goto(f"{srv.url}/a/{made.annotators['eve']}")
        page.locator("details summary").first.click()               # the long turn unfolds
        assert page.locator("details[open]").count() == 1
        _keep(page, "xss.png")
        assert dialogs == [] and problems == []
        page.close()

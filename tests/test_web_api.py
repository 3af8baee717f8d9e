"""The web app's routes in-process (Starlette's test client over the real app and a real store file).

The JSON API contract, the security rules (tokens, form tokens, Origin, CSP, escaping, no token in logs), and
that every page has its JSON twin.
"""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from _campaigns import JUDGE, PWN, XSS_TEXT, copy_of, judges_store
from auditor import Store
from auditor.campaign import create_campaign
from auditor.web import create_app
from auditor.web._security import CSP, configure_logging

ALL2 = {f"Q{i}": "2" for i in range(9)}


@pytest.fixture(scope="module")
def base_db(tmp_path_factory):
    return judges_store(tmp_path_factory.mktemp("web") / "base.duckdb")


@pytest.fixture
def env(base_db, tmp_path):
    store = Store(copy_of(base_db, tmp_path))
    made = create_campaign(store, "web", rubric="llm_rubric", annotators="alice,bob,carol", sample=6, seed=5,
                           where="conversation_id <> 'xss-probe'")
    xss = create_campaign(store, "xss", rubric="llm_rubric", annotators="eve", overlap=1,
                          where="conversation_id = 'xss-probe'")
    client = TestClient(create_app(store, n_boot=50))
    yield client, made, xss, store
    client.close()
    store.close()


def _next(client, token):
    r = client.get(f"/api/a/{token}/next")
    assert r.status_code == 200, r.text
    return r.json()


def _post(client, token, item, answers, form_token, **headers):
    return client.post(f"/api/a/{token}/items/{item}", json={"answers": answers},
                       headers={"X-Form-Token": form_token, **headers})


def test_next_submit_and_done(env):
    client, made, _, store = env
    tok = made.annotators["alice"]
    seen = []
    while True:
        r = client.get(f"/api/a/{tok}/next")
        if r.status_code == 204:
            break
        item = r.json()
        assert set(item) >= {"item_id", "conversation", "questions", "progress", "form_token"}
        assert item["questions"][0]["options"][0] == {"label": "1", "value": 1.0}
        assert "answers" not in item and JUDGE not in r.text      # blind: no LLM score, nobody's answers
        r = _post(client, tok, item["item_id"], ALL2, item["form_token"])
        assert r.status_code == 200 and r.json() == {"stored": 9, "unchanged": 0}
        seen.append(item["item_id"])
    assert len(seen) == 4 and len(set(seen)) == 4
    assert store.sql("SELECT count(*) AS n FROM signals WHERE rater_id = 'alice'")["n"][0] == 36
    r = client.get(f"/a/{tok}")
    assert r.status_code == 200 and "All done" in r.text


def test_errors_are_one_line_with_the_right_status(env):
    client, made, _, store = env
    tok = made.annotators["bob"]
    item = _next(client, tok)
    ft = item["form_token"]
    assert client.get("/api/a/wrong-token/next").status_code == 403
    r = _post(client, "wrong-token", item["item_id"], ALL2, ft)
    assert r.status_code == 403 and "not valid" in r.json()["error"]
    # another annotator's token cannot write bob's item, even with bob's form token
    other = made.annotators["alice"]
    mine = set(store.sql("SELECT item_id FROM campaign_assignments WHERE annotator = 'alice'").item_id)
    foreign = next(i for i in range(6) if i not in mine)
    alice_ft = _next(client, other)["form_token"]
    r = _post(client, other, foreign, ALL2, alice_ft)
    assert r.status_code == 403 and "not assigned" in r.json()["error"]
    r = _post(client, other, foreign, ALL2, ft)
    assert r.status_code == 403
    assert _post(client, tok, item["item_id"], {**ALL2, "Q9": "1"}, ft).status_code == 422
    r = _post(client, tok, item["item_id"], {**ALL2, "Q0": "five"}, ft)
    assert r.status_code == 422 and "unknown option 'five'" in r.json()["error"]
    r = client.post(f"/api/a/{tok}/items/{item['item_id']}", content=b"{not json",
                    headers={"X-Form-Token": ft, "Content-Type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["error"]
    assert client.post(f"/api/a/{tok}/items/abc", json={"answers": ALL2}, headers={"X-Form-Token": ft}
                       ).status_code == 404
    assert store.sql("SELECT count(*) AS n FROM signals WHERE rater_id IN ('alice', 'bob')")["n"][0] == 0
    assert _post(client, tok, item["item_id"], ALL2, ft).status_code == 200


def test_forged_cross_site_posts_are_refused(env):
    client, made, _, store = env
    tok = made.annotators["carol"]
    item = _next(client, tok)
    url = f"/api/a/{tok}/items/{item['item_id']}"
    assert client.post(url, json={"answers": ALL2}).status_code == 403                       # no form token
    assert _post(client, tok, item["item_id"], ALL2, "0" * 64).status_code == 403            # wrong form token
    r = _post(client, tok, item["item_id"], ALL2, item["form_token"], Origin="http://evil.example")
    assert r.status_code == 403 and "cross-site" in r.json()["error"]
    r = _post(client, tok, item["item_id"], ALL2, item["form_token"], **{"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    # a classic HTML form POST from another site: urlencoded, no custom header, foreign Origin
    form = "&".join(f"q:Q{i}=2" for i in range(9))
    r = client.post(f"/a/{tok}/items/{item['item_id']}", content=form,
                    headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"},
                    follow_redirects=False)
    assert r.status_code == 403
    assert store.sql("SELECT count(*) AS n FROM signals WHERE rater_id = 'carol'")["n"][0] == 0
    # the same-origin form POST of the page itself (no JavaScript) works and redirects to the next item
    r = client.post(f"/a/{tok}/items/{item['item_id']}", content=form + f"&form_token={item['form_token']}",
                    headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://testserver"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/a/{tok}"
    assert store.sql("SELECT count(*) AS n FROM signals WHERE rater_id = 'carol'")["n"][0] == 9


def test_security_headers_and_escaping(env):
    client, _, xss, _ = env
    tok = xss.annotators["eve"]
    r = client.get(f"/a/{tok}")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == CSP and "unsafe-inline" not in CSP
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    assert "<script>document.title" not in r.text and "onerror=\"document" not in r.text
    assert "&lt;script&gt;" in r.text and "XSS-PROBE-91c2" in r.text
    assert "assistant&lt;b&gt;x&lt;/b&gt;" in r.text
    assert "<details><summary>show the rest" in r.text                    # the long turn is folded
    assert r.text.count("<script") == 1 and '<script src="/static/annotate.js">' in r.text   # no inline script
    assert client.get("/static/../pyproject.toml").status_code == 404
    assert client.get("/static/%2e%2e%2fapp.py").status_code == 404
    assert client.get("/static/").status_code == 404
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")


def test_admin_pages_need_the_admin_token(env):
    client, made, xss, _ = env
    for url in ("/browse", "/browse.json", "/campaigns/web", "/api/campaigns/web", "/browse/conversation?id=x"):
        r = client.get(url)
        assert r.status_code == 403, url
    r = client.get(f"/campaigns/web?token={made.annotators['alice']}")
    assert r.status_code == 403                                      # an annotator token is not an admin token
    r = client.get(f"/campaigns/web?token={xss.admin_token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/campaigns/web" and "token=" not in r.headers["location"]
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    r = client.get("/campaigns/web")                                 # the cookie now holds xss's admin token
    assert r.status_code == 403 and "not the one of campaign &#39;web&#39;" in r.text
    h = {"Authorization": f"Bearer {made.admin_token}"}
    data = client.get("/api/campaigns/web", headers=h).json()
    assert data["campaign"]["n_items"] == 6 and len(data["progress"]) == 3 and data["agreement"] == []
    assert client.get("/api/campaigns/nope", headers=h).status_code == 404
    b = client.get("/browse.json?campaign=web&dimension=all", headers=h).json()
    assert b["total"] == 6 and b["scaled"] is True
    c = client.get("/browse/conversation.json?id=xss-probe", headers=h).json()
    assert c["messages"][0]["content"] == XSS_TEXT
    page = client.get("/browse/conversation?id=xss-probe", headers=h).text
    assert PWN not in page.replace("document.title=&#39;pwned&#39;", "")


def test_dashboard_shows_agreement_and_close_refuses_later_answers(env):
    client, made, _, store = env
    h = {"Authorization": f"Bearer {made.admin_token}"}
    for name, tok in made.annotators.items():
        while (r := client.get(f"/api/a/{tok}/next")).status_code == 200:
            item = r.json()
            ans = {f"Q{i}": str(1 + (item["item_id"] + i) % 4) for i in range(9)}
            assert _post(client, tok, item["item_id"], ans, item["form_token"]).status_code == 200
    data = client.get("/api/campaigns/web?target=0.05", headers=h).json()
    rows = {(a["rater"], a["dimension"]): a for a in data["agreement"]}
    assert rows[("humans", "Q0")]["alpha"] == pytest.approx(1.0) and rows[("humans", "Q0")]["n"] == 6
    assert (JUDGE, "Q0") in rows and rows[(JUDGE, "Q0")]["bias"] is not None
    html = client.get("/campaigns/web", headers=h).text
    assert 'id="agreement"' in html and JUDGE in html
    # close needs the admin's form token; then every submission is refused with 409
    assert client.post("/api/campaigns/web/close", headers=h).status_code == 403
    r = client.post("/api/campaigns/web/close", headers={**h, "X-Form-Token": data["form_token"]})
    assert r.status_code == 200 and r.json()["status"] == "closed"
    tok = made.annotators["alice"]
    done = store.sql("SELECT item_id FROM campaign_assignments WHERE annotator = 'alice'").item_id.tolist()
    ft = client.get(f"/api/a/{tok}/items/{done[0]}").json()["form_token"]
    r = _post(client, tok, done[0], {f"Q{i}": "4" for i in range(9)}, ft)
    assert r.status_code == 409 and "closed" in r.json()["error"]


def test_edit_an_earlier_answer_over_http(env):
    client, made, _, store = env
    tok = made.annotators["alice"]
    item = _next(client, tok)
    assert _post(client, tok, item["item_id"], ALL2, item["form_token"]).json() == {"stored": 9, "unchanged": 0}
    view = client.get(f"/api/a/{tok}/items/{item['item_id']}").json()
    assert view["answers"] == ALL2
    r = _post(client, tok, item["item_id"], {**ALL2, "Q3": None}, view["form_token"])
    assert r.json() == {"stored": 1, "unchanged": 8}
    assert store.sql("SELECT count(*) AS n FROM signal_history WHERE rater_id = 'alice'")["n"][0] == 1
    page = client.get(f"/a/{tok}?item={item['item_id']}").text
    assert "editing an earlier answer" in page and 'value="__na__" required checked' in page
    assert client.get(f"/a/{tok}/done").status_code == 200


def test_request_log_never_shows_a_token(env, caplog):
    client, made, _, _ = env
    configure_logging()
    logger = logging.getLogger("auditor.web")
    logger.propagate = True
    try:
        with caplog.at_level(logging.INFO, logger="auditor.web"):
            tok = made.annotators["alice"]
            client.get(f"/a/{tok}")
            client.get(f"/campaigns/web?token={made.admin_token}")
            client.get("/browse", headers={"Authorization": f"Bearer {made.admin_token}"})
    finally:
        logger.propagate = False
    text = caplog.text
    assert "/a/<token>" in text and "/campaigns/web" in text
    for secret in [*made.annotators.values(), made.admin_token]:
        assert secret not in text


def test_an_unexpected_error_is_one_line_and_logged_without_the_token(env, caplog):
    client, made, _, store = env
    # a store damaged behind auditor's back: the rubric's stored spec no longer validates
    store.con.execute("""UPDATE rubrics SET spec = '{"name": "llm_rubric"}' WHERE rubric = 'llm_rubric'""")
    client_noraise = TestClient(client.app, raise_server_exceptions=False)
    configure_logging()
    logger = logging.getLogger("auditor.web")
    logger.propagate = True
    try:
        with caplog.at_level(logging.INFO, logger="auditor.web"):
            r = client_noraise.get(f"/api/a/{made.annotators['alice']}/next")
    finally:
        logger.propagate = False
    assert r.status_code == 500 and r.json() == {"error": "internal error: the server logged it; please report it "
                                                          "with the server's log"}
    assert "ValidationError" in caplog.text and made.annotators["alice"] not in caplog.text

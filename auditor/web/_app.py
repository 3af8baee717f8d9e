"""The local web app (Starlette on uvicorn): annotate, browse, dashboard, and the JSON API they use.

The app holds the store open as its single writer (:class:`~auditor.web._service.Service`): reads run on
per-thread cursors, writes one at a time, and every submission is one transaction through
:mod:`auditor.store._campaigns`, committed before the 200 is sent.
Routes (``{token}`` is an annotator's private token):

- ``GET /a/{token}`` annotate page (``?item=N`` edits an earlier answer); ``GET /a/{token}/done`` answered items
- ``GET /api/a/{token}/next`` -> 200 item JSON, or 204 when every item is done
- ``GET /api/a/{token}/items/{item_id}`` -> the item with the annotator's own answers
- ``POST /api/a/{token}/items/{item_id}`` ``{"answers": {...}}`` -> ``{"stored": n, "unchanged": m}``
- ``POST /api/a/{token}/items/{item_id}/skip``
- ``GET /browse`` (+ ``/browse.json``), ``GET /browse/conversation?id=`` (+ ``.json``): admin
- ``GET /campaigns/{name}``, ``GET /api/campaigns/{name}``, ``POST /api/campaigns/{name}/close``: admin
"""

from __future__ import annotations

import json
from importlib import resources
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import campaign as camp
from ..browse import BrowseQuery, browse, browse_choices, conversation_detail
from ..errors import AuditorError, CampaignError, InvalidAnswer, NotAllowed, NotFound
from ..store import Store
from . import _pages
from ._security import ADMIN_COOKIE, admin_token, security_headers
from ._service import Service

__all__ = ["create_app"]

STATIC = {"app.css": "text/css; charset=utf-8", "annotate.js": "text/javascript; charset=utf-8",
          "favicon.svg": "image/svg+xml"}
MAX_BODY = 1 << 20


# -- helpers -------------------------------------------------------------------------------------------------------
def _api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path.endswith(".json")


async def _json_body(request: Request) -> dict:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise InvalidAnswer("send the answers as JSON (Content-Type: application/json)")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidAnswer("request body too large")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise InvalidAnswer("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidAnswer('the body must be a JSON object {"answers": {...}}')
    return data


async def _form_body(request: Request) -> dict:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidAnswer("request body too large")
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _item_id(request: Request) -> int:
    try:
        return int(request.path_params["item_id"])
    except ValueError:
        raise NotFound("no such item") from None


def _admin(svc: Service, request: Request, campaign: str | None = None) -> tuple[str, list[str]]:
    token = admin_token(request)
    campaigns = svc(camp.admin_campaigns, token)
    if campaign is not None and campaign not in campaigns:
        if not svc(lambda s: s.con.execute("SELECT 1 FROM campaigns WHERE campaign = ?", [campaign]).fetchall()):
            raise NotFound(f"no campaign named {campaign!r}")
        raise NotAllowed(f"this admin link is not the one of campaign {campaign!r}")
    return token, campaigns


def _clean_url(request: Request) -> Response | None:
    """A first visit with ``?token=``: keep the token in a cookie and drop it from the URL (and history)."""
    token = request.query_params.get("token")
    if not token:
        return None
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    target = request.url.path + ("?" + urlencode(rest) if rest else "")
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(ADMIN_COOKIE, token, httponly=True, samesite="strict", path="/")
    return resp


# -- annotate ------------------------------------------------------------------------------------------------------
def annotate_page(request: Request):
    svc: Service = request.app.state.svc
    token = request.path_params["token"]
    who = svc.annotator(token)
    item_param = request.query_params.get("item")
    if item_param is not None:
        try:
            item_id = int(item_param)
        except ValueError:
            raise NotFound("no such item") from None
        item = svc.shown(who, svc(camp.item_view, who, item_id))
    else:
        item = svc.shown(who, svc(camp.next_item, who))
    if item is None:
        done = svc(camp.done_items, who)
        info = svc(camp.campaign_info, who.campaign)
        return HTMLResponse(_pages.render("done.html.j2", who=who, token=token, done=done, status=info["status"]))
    return HTMLResponse(_pages.render("annotate.html.j2", who=who, token=token, item=item,
                                      form_token=svc.form_token(who.token_hash), folded=_pages.fold))


def annotate_done(request: Request):
    svc: Service = request.app.state.svc
    token = request.path_params["token"]
    who = svc.annotator(token)
    info = svc(camp.campaign_info, who.campaign)
    return HTMLResponse(_pages.render("done.html.j2", who=who, token=token, done=svc(camp.done_items, who),
                                      status=info["status"], listing=True))


def _checked(request: Request, form: dict | None = None):
    """The annotator, the item and the service of a state-changing request whose form token is right."""
    svc: Service = request.app.state.svc
    who = svc.annotator(request.path_params["token"])
    svc.check_form_token(request, who.token_hash, form)
    return svc, who, _item_id(request)


async def annotate_form_submit(request: Request):
    """The no-JavaScript path: a plain form POST, answered with a redirect to the next item."""
    form = await _form_body(request)
    svc, who, item_id = _checked(request, form)
    rubric = svc(camp.stored_rubric, svc(camp.campaign_info, who.campaign)["rubric"])
    answers = {d.name: (None if form.get(f"q:{d.name}") == "__na__" else form.get(f"q:{d.name}"))
               for d in rubric.dimensions if f"q:{d.name}" in form}
    svc.submit(who, item_id, answers)
    return RedirectResponse(f"/a/{request.path_params['token']}", status_code=303)


async def annotate_form_skip(request: Request):
    svc, who, item_id = _checked(request, await _form_body(request))
    svc.write(camp.skip, who, item_id)
    return RedirectResponse(f"/a/{request.path_params['token']}", status_code=303)


def api_next(request: Request):
    svc: Service = request.app.state.svc
    who = svc.annotator(request.path_params["token"])
    item = svc.shown(who, svc(camp.next_item, who))
    if item is None:
        return Response(status_code=204)
    return JSONResponse({**item, "form_token": svc.form_token(who.token_hash)})


def api_item(request: Request):
    svc: Service = request.app.state.svc
    who = svc.annotator(request.path_params["token"])
    item = svc.shown(who, svc(camp.item_view, who, _item_id(request)))
    return JSONResponse({**item, "form_token": svc.form_token(who.token_hash)})


async def api_submit(request: Request):
    svc, who, item_id = _checked(request)
    data = await _json_body(request)
    if "answers" not in data:
        raise InvalidAnswer('the body needs "answers": {"<dimension>": "<option label>" | null}')
    return JSONResponse(svc.submit(who, item_id, data["answers"]))


async def api_skip(request: Request):
    svc, who, item_id = _checked(request)
    svc.write(camp.skip, who, item_id)
    return JSONResponse({"skipped": item_id})


# -- admin ---------------------------------------------------------------------------------------------------------
def _target(request: Request) -> float:
    try:
        t = float(request.query_params.get("target", "0.1"))
    except ValueError:
        raise InvalidAnswer("target must be a number (an interval half-width, e.g. 0.1)") from None
    if not 0 < t < 10:
        raise InvalidAnswer("target must be a positive interval half-width, e.g. 0.1")
    return t


def _dashboard_data(svc: Service, name: str, target: float) -> dict:
    info = svc(camp.campaign_info, name)
    prog = svc(camp.progress, name)
    _, summary = svc.campaign_agreement(name, target)
    return {"campaign": _pages.jsonable(info), "progress": _pages.records(prog), "target_half_width": target,
            "agreement": _pages.records(summary)}


def dashboard_page(request: Request):
    redirect = _clean_url(request)
    if redirect:
        return redirect
    svc: Service = request.app.state.svc
    name = request.path_params["name"]
    token, _ = _admin(svc, request, name)
    data = _dashboard_data(svc, name, _target(request))
    admin_hash = camp.hash_token(token)
    return HTMLResponse(_pages.render("dashboard.html.j2", d=data, form_token=svc.form_token(admin_hash)))


def api_campaign(request: Request):
    svc: Service = request.app.state.svc
    name = request.path_params["name"]
    token, _ = _admin(svc, request, name)
    data = _dashboard_data(svc, name, _target(request))
    data["form_token"] = svc.form_token(camp.hash_token(token))
    return JSONResponse(data)


async def close_campaign(request: Request):
    svc: Service = request.app.state.svc
    name = request.path_params["name"]
    token, _ = _admin(svc, request, name)
    form = None if request.headers.get("x-form-token") else await _form_body(request)
    svc.check_form_token(request, camp.hash_token(token), form)
    svc.write(camp.close_campaign, name)
    if _api(request):
        return JSONResponse({"campaign": name, "status": "closed"})
    return RedirectResponse(f"/campaigns/{name}", status_code=303)


def _browse_query(request: Request) -> BrowseQuery:
    p = request.query_params
    try:
        page = max(1, int(p.get("page", "1")))
    except ValueError:
        page = 1
    return BrowseQuery(rubric=p.get("rubric") or None, dimension=p.get("dimension") or None,
                       rater=p.get("rater") or None, task=p.get("task") or None, system=p.get("system") or None,
                       campaign=p.get("campaign") or None, sort=p.get("sort") or "disagreement",
                       offset=(page - 1) * 50, limit=50)


def browse_page(request: Request):
    redirect = _clean_url(request)
    if redirect:
        return redirect
    svc: Service = request.app.state.svc
    _admin(svc, request)
    q = _browse_query(request)
    data = svc(browse, q)
    if request.url.path.endswith(".json"):
        return JSONResponse(_pages.jsonable(data))
    return HTMLResponse(_pages.render("browse.html.j2", d=data, q=q, choices=svc(browse_choices),
                                      page=q.offset // 50 + 1, fmt=_pages.fmt))


def conversation_page(request: Request):
    redirect = _clean_url(request)
    if redirect:
        return redirect
    svc: Service = request.app.state.svc
    _admin(svc, request)
    cid = request.query_params.get("id")
    if not cid:
        raise NotFound("which conversation? Fix: /browse/conversation?id=CONVERSATION_ID")
    data = svc(conversation_detail, cid)
    if request.url.path.endswith(".json"):
        return JSONResponse(_pages.jsonable(data))
    return HTMLResponse(_pages.render("conversation.html.j2", c=data, folded=_pages.fold, fmt=_pages.fmt))


def index(request: Request):
    return HTMLResponse(_pages.render("index.html.j2"))


def make_static(request: Request):
    name = request.path_params["name"]
    files = request.app.state.static
    if name not in files:
        raise NotFound("no such file")
    body, ctype = files[name]
    return Response(body, media_type=ctype)


# -- errors --------------------------------------------------------------------------------------------------------
def _error(request: Request, status: int, message: str) -> Response:
    if _api(request) or request.method == "POST" and request.headers.get("x-form-token"):
        return JSONResponse({"error": message}, status_code=status)
    return HTMLResponse(_pages.render("error.html.j2", status=status, message=message), status_code=status)


async def _campaign_error(request: Request, exc: CampaignError):
    return _error(request, exc.status, str(exc))


async def _auditor_error(request: Request, exc: AuditorError):
    return _error(request, 400, str(exc))


async def _internal_error(request: Request, exc: Exception):
    """Anything unexpected: logged with its traceback (the path redacted), answered with one line."""
    from ._security import log, redact_path

    log.error("internal error on %s %s", request.method, redact_path(request.url.path), exc_info=exc)
    return _error(request, 500, "internal error: the server logged it; please report it with the server's log")


async def _http_error(request: Request, exc):
    detail = getattr(exc, "detail", "") or "not found"
    return _error(request, getattr(exc, "status_code", 500), str(detail))


def create_app(store: Store, *, allowed_hosts: list[str] | None = None, n_boot: int = 1000, seed: int = 0
               ) -> Starlette:
    """The ASGI app over an open (writable) store. ``allowed_hosts`` limits the Host header (DNS rebinding)."""
    a = "/a/{token}"
    routes = [
        Route("/", index), Route("/static/{name}", make_static),
        Route("/favicon.ico", lambda request: RedirectResponse("/static/favicon.svg", status_code=301)),
        Route(a, annotate_page), Route(a + "/done", annotate_done),
        Route(a + "/items/{item_id}", annotate_form_submit, methods=["POST"]),
        Route(a + "/items/{item_id}/skip", annotate_form_skip, methods=["POST"]),
        Route("/api" + a + "/next", api_next), Route("/api" + a + "/items/{item_id}", api_item),
        Route("/api" + a + "/items/{item_id}", api_submit, methods=["POST"]),
        Route("/api" + a + "/items/{item_id}/skip", api_skip, methods=["POST"]),
        Route("/browse", browse_page), Route("/browse.json", browse_page),
        Route("/browse/conversation", conversation_page), Route("/browse/conversation.json", conversation_page),
        Route("/campaigns/{name}", dashboard_page), Route("/api/campaigns/{name}", api_campaign),
        Route("/campaigns/{name}/close", close_campaign, methods=["POST"]),
        Route("/api/campaigns/{name}/close", close_campaign, methods=["POST"]),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []
    from starlette.exceptions import HTTPException

    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={CampaignError: _campaign_error, AuditorError: _auditor_error,
                                        HTTPException: _http_error, Exception: _internal_error})
    app.state.svc = Service(store, n_boot=n_boot, seed=seed)
    folder = resources.files("auditor.web") / "static"
    app.state.static = {n: ((folder / n).read_bytes(), t) for n, t in STATIC.items()}
    return security_headers(app)

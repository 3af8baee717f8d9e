"""The web app's hold on the store: reads on per-thread cursors, writes one at a time, cached campaign audits."""

from __future__ import annotations

import hmac
import threading
import time

from starlette.requests import Request

from .. import campaign as camp
from ..audit import AuditOptions
from ..errors import NotAllowed
from ..store import Store
from ..store._campaigns import web_key
from ._security import check_same_origin

__all__ = ["Service", "DASHBOARD_STATS"]

DASHBOARD_STATS = ["krippendorff_alpha", "mean_diff"]


class _Reader:
    """The store seen through a DuckDB cursor of its own (one per server thread): reads run side by side and see
    every committed write."""

    def __init__(self, store: Store):
        self.path, self.con = store.path, store.con.cursor()


class Service:
    """The store behind the app: reads through per-thread cursors, writes one at a time under a lock on the main
    connection (each one transaction, committed before the response), and the cached campaign audits."""

    def __init__(self, store: Store, *, n_boot: int = 1000, seed: int = 0):
        self.store, self.lock = store, threading.Lock()
        self.n_boot, self.seed = n_boot, seed
        self._local = threading.local()
        self._annotators: dict[str, camp.Annotator] = {}
        with self.lock:
            self.key = web_key(store)
        self._audits: dict[str, tuple] = {}
        self._shown: dict[tuple, float] = {}    # (campaign, annotator, item) -> when it was last served

    def shown(self, who, item: dict | None) -> dict | None:
        """Remember when an item was shown, so its submission can record the time spent on it."""
        if item is not None:
            if len(self._shown) > 100_000:
                self._shown.clear()
            self._shown[(who.campaign, who.name, item["item_id"])] = time.monotonic()
        return item

    def submit(self, who, item_id: int, answers) -> dict:
        t0 = self._shown.get((who.campaign, who.name, item_id))
        seconds = None if t0 is None else round(time.monotonic() - t0, 3)
        return self.write(camp.submit, who, item_id, answers, seconds=seconds)

    def __call__(self, fn, *args, **kwargs):
        """``fn(store, ...)`` for a read."""
        reader = getattr(self._local, "reader", None)
        if reader is None:
            with self.lock:
                reader = self._local.reader = _Reader(self.store)
        return fn(reader, *args, **kwargs)

    def annotator(self, token: str):
        """The annotator of a private token (tokens never change, so a resolved one is remembered)."""
        h = camp.hash_token(token or "")
        who = self._annotators.get(h)
        if who is None:
            who = self._annotators[h] = self(camp.resolve_annotator, token)
        return who

    def write(self, fn, *args, **kwargs):
        """``fn(store, ...)`` for a write: one at a time, on the main connection."""
        with self.lock:
            return fn(self.store, *args, **kwargs)

    def form_token(self, token_hash: str) -> str:
        return camp.form_token(self.key, token_hash)

    def check_form_token(self, request: Request, token_hash: str, form: dict | None = None) -> None:
        check_same_origin(request)
        sent = request.headers.get("x-form-token") or (form or {}).get("form_token") or ""
        if not hmac.compare_digest(sent.encode(), self.form_token(token_hash).encode()):
            raise NotAllowed("missing or wrong form token: reload the page and submit again (scripts: send the "
                             "'form_token' from GET /api/a/{token}/next as the X-Form-Token header)")

    def campaign_agreement(self, name: str, target: float):
        """The campaign's audit rows (recomputed only when its answers changed) and the dashboard summary."""
        reader = self(lambda r: r)
        stamp = reader.con.execute(
            "SELECT count(*) FILTER (status = 'done'), max(coalesce(updated_at, submitted_at)) FROM "
            "campaign_assignments WHERE campaign = ?", [name]).fetchall()[0]
        cached = self._audits.get(name)
        if cached and cached[0] == stamp:
            rows = cached[1]
        else:
            rubric = camp.campaign_info(reader, name)["rubric"]
            sub = camp.campaign_store(reader, name)
            rows = None
        if rows is None:
            with sub:      # the audit runs on the in-memory copy
                rows = camp.audit_slice(sub, rubric, AuditOptions(statistics=DASHBOARD_STATS, n_boot=self.n_boot,
                                                                  seed=self.seed))
            self._audits[name] = (stamp, rows)
        return rows, camp.agreement_summary(rows, target=target)

"""The fake server's Files and Batches API (``/v1/files``, ``/v1/batches``): real HTTP, scripted per test.

Mounted on :class:`fake_openai.FakeOpenAI` (its handler sends these paths here). It keeps uploaded files, creates
batches from a JSONL input file (validated like OpenAI's: ``/v1/chat/completions`` lines with unique
``custom_id``), and answers each request line with the same structured answer the chat endpoint gives the same
item (``custom_id`` is the item key), applying the fake's per-item faults (``fault_for``):

- ``"429"`` / ``"500"`` / ``"400"``: an error-file line with that status;
- ``"invalid"`` / ``"bad_json"`` / ``"truncated"``: an output line with such a reply (HTTP 200);
- ``"malformed"``: an output line that is not JSON;
- ``"drop"``: no line at all for the item.

Scripts (:class:`BatchScript`, ``fake.batch.script``): ``polls`` — retrieves that report ``in_progress`` before a
batch finishes; ``outcomes`` — a queue of final states for the next batches (``completed``, ``expired``: the first
half of its items answered, the rest ``batch_expired`` errors; ``failed``: rejected at validation); hooks called
in the server thread (``on_upload``, ``after_create``, ``on_download``: a test may kill the client there),
``reset_create`` (create the batch, then reset the connection before replying: the client never learns its id),
``fail_upload`` (HTTP 500 on the next uploads) and ``unavailable`` (404 everywhere: a server without the API).
"""

from __future__ import annotations

import collections
import dataclasses
import email.parser
import email.policy
import hashlib
import json
import sys
import threading
import time
import urllib.parse
from typing import Any, Callable

__all__ = ["BatchAPI", "BatchScript"]


@dataclasses.dataclass
class BatchScript:
    polls: int = 1
    outcomes: collections.deque = dataclasses.field(default_factory=collections.deque)
    on_upload: Callable[[], None] | None = None
    after_create: Callable[[str], None] | None = None
    on_download: Callable[[str], None] | None = None
    reset_create: int = 0                 # the next N creates reset the connection after creating
    unavailable: bool = False             # answer 404 on every files/batches path (an endpoint without the API)
    fail_upload: int = 0                  # the next N uploads answer HTTP 500 without storing the file


class BatchAPI:
    """Files and batches of one fake server. ``log``: (operation, id) in order; ``answered``: item key -> answers
    delivered in output files (a key above 1 is a paid-for duplicate)."""

    def __init__(self, fake: Any):
        self.fake = fake
        self.script = BatchScript()
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.log: list[tuple[str, str]] = []
        self.answered: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}-{self._n:05d}"

    # -- routing ----------------------------------------------------------------------------------------
    def handles(self, path: str) -> bool:
        p = urllib.parse.urlsplit(path).path
        return "/v1/files" in p or "/v1/batches" in p

    def get(self, h: Any) -> None:
        if self.script.unavailable:
            return h._send(404, b'{"error": {"message": "Not Found"}}')
        u = urllib.parse.urlsplit(h.path)
        parts = u.path.rstrip("/").split("/")
        if parts[-1] == "content" and parts[-3] == "files":
            f = self.files.get(parts[-2])
            if f is None:
                return h._send(404, b'{"error": {"message": "no such file"}}')
            self.log.append(("download", parts[-2]))
            if self.script.on_download is not None:
                self.script.on_download(parts[-2])
            return h._send(200, f["data"], content_type="application/octet-stream")
        if parts[-1] == "batches":
            q = urllib.parse.parse_qs(u.query)
            limit = int(q.get("limit", ["20"])[0])
            after = q.get("after", [None])[0]
            with self._lock:
                rows = sorted(self.batches.values(), key=lambda b: (b["created_at"], b["id"]), reverse=True)
            if after:
                ids = [b["id"] for b in rows]
                rows = rows[ids.index(after) + 1:] if after in ids else []
            page = rows[:limit]
            self.log.append(("list", after or ""))
            data = [self._public(b) for b in page]
            return h._send(200, json.dumps({"object": "list", "data": data, "has_more": len(rows) > limit,
                                            "first_id": page[0]["id"] if page else None,
                                            "last_id": page[-1]["id"] if page else None}).encode())
        if parts[-2] == "batches":
            b = self.batches.get(parts[-1])
            if b is None:
                return h._send(404, b'{"error": {"message": "no such batch"}}')
            self.log.append(("retrieve", b["id"]))
            self._advance(b)
            return h._send(200, json.dumps(self._public(b)).encode())
        h._send(404, b'{"error": {"message": "not found"}}')

    def post(self, h: Any, raw: bytes) -> None:
        if self.script.unavailable:
            return h._send(404, b'{"error": {"message": "Not Found"}}')
        path = urllib.parse.urlsplit(h.path).path.rstrip("/")
        if path.endswith("/files"):
            return self._upload(h, raw)
        if path.endswith("/batches"):
            return self._create(h, json.loads(raw))
        h._send(404, b'{"error": {"message": "not found"}}')

    # -- files ------------------------------------------------------------------------------------------
    def _upload(self, h: Any, raw: bytes) -> None:
        if self.script.on_upload is not None:
            self.script.on_upload()
        if self.script.fail_upload:
            self.script.fail_upload -= 1
            self.log.append(("upload_failed", ""))
            return h._send(500, b'{"error": {"message": "upload failed", "type": "server_error"}}')
        ctype = h.headers.get("Content-Type", "")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
        fields: dict[str, Any] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        fname, data = fields["file"]
        purpose = fields.get("purpose", (None, b""))[1].decode()
        fid = self._id("file")
        self.files[fid] = {"data": data, "purpose": purpose, "filename": fname}
        self.log.append(("upload", fid))
        h._send(200, json.dumps({"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                                 "filename": fname, "purpose": purpose, "status": "processed"}).encode())

    def _store_file(self, lines: list[str]) -> str | None:
        if not lines:
            return None
        fid = self._id("file")
        self.files[fid] = {"data": ("\n".join(lines) + "\n").encode(), "purpose": "batch_output", "filename": fid}
        return fid

    # -- batches ----------------------------------------------------------------------------------------
    def _create(self, h: Any, body: dict) -> None:
        f = self.files.get(body.get("input_file_id"))
        if f is None:
            return h._send(400, b'{"error": {"message": "input_file_id: no such file"}}')
        now = time.time()
        bid = self._id("batch")
        outcome = self.script.outcomes.popleft() if self.script.outcomes else "completed"
        b = {"id": bid, "object": "batch", "endpoint": body.get("endpoint"), "errors": None,
             "input_file_id": body["input_file_id"], "completion_window": body.get("completion_window", "24h"),
             "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": int(now),
             "in_progress_at": None, "expires_at": int(now) + 86400, "completed_at": None, "failed_at": None,
             "expired_at": None, "request_counts": {"total": 0, "completed": 0, "failed": 0},
             "metadata": body.get("metadata"), "_polls": self.script.polls, "_outcome": outcome, "_t": now}
        with self._lock:
            self.batches[bid] = b
        self.log.append(("create", bid))
        if self.script.after_create is not None:
            self.script.after_create(bid)
        if self.script.reset_create:
            self.script.reset_create -= 1
            h._reset(b"{}")
            return
        h._send(200, json.dumps(self._public(b)).encode())

    @staticmethod
    def _public(b: dict) -> dict:
        return {k: v for k, v in b.items() if not k.startswith("_")}

    def _advance(self, b: dict) -> None:
        """One retrieve: validating -> in_progress (``polls`` times) -> a final state with its files."""
        if b["status"] in ("completed", "expired", "failed", "cancelled"):
            return
        if b["status"] == "validating":
            lines, errors = self._read_input(b)
            if errors or b["_outcome"] == "failed":
                b.update(status="failed", failed_at=int(time.time()),
                         errors={"object": "list", "data": errors or [
                             {"code": "invalid_request", "message": "scripted validation failure", "line": 1}]})
                return
            b["_lines"] = lines
            b.update(status="in_progress", in_progress_at=int(time.time()))
            b["request_counts"]["total"] = len(lines)
        if b["_polls"] > 0:
            b["_polls"] -= 1
            return
        self._finish(b)

    def _read_input(self, b: dict) -> tuple[list[dict], list[dict]]:
        lines, errors, seen = [], [], set()
        for i, text in enumerate(self.files[b["input_file_id"]]["data"].decode().splitlines(), 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except ValueError:
                errors.append({"code": "invalid_json_line", "message": "not JSON", "line": i})
                continue
            if line.get("url") != b["endpoint"] or line.get("method") != "POST":
                errors.append({"code": "invalid_url", "message": f"url must be {b['endpoint']}", "line": i})
            if line.get("custom_id") in seen:
                errors.append({"code": "duplicate_custom_id", "message": "custom_id must be unique", "line": i})
            seen.add(line.get("custom_id"))
            lines.append(line)
        return lines, errors

    def _finish(self, b: dict) -> None:
        completion_for = sys.modules[type(self.fake).__module__].completion_for   # fake_openai, however imported
        out, err = [], []
        lines = b["_lines"]
        n_run = len(lines) if b["_outcome"] != "expired" else len(lines) // 2
        for j, line in enumerate(lines):
            cid = line["custom_id"]
            key = urllib.parse.unquote(cid)
            rid = f"batch_req_{hashlib.sha256((b['id'] + cid).encode()).hexdigest()[:12]}"
            if j >= n_run:
                err.append(json.dumps({"id": rid, "custom_id": cid, "response": None, "error": {
                    "code": "batch_expired", "message": "This request could not be executed before the "
                                                        "completion window expired."}}))
                continue
            fault, _ = self.fake._fault(key, line["body"])
            if fault == "drop":
                continue
            if fault in ("429", "500", "400"):
                err.append(json.dumps({"id": rid, "custom_id": cid, "error": None, "response": {
                    "status_code": int(fault), "request_id": rid, "body": {"error": {
                        "message": {"429": "rate limited", "500": "internal error",
                                    "400": "bad request: unsupported parameter"}[fault], "type": "scripted"}}}}))
                continue
            if fault == "malformed":
                out.append('{"id": "' + rid + '", "custom_id": "' + cid + '", "response": {"status_c')
                continue
            reply, answer = completion_for(line["body"], key, fault)
            if answer is not None:
                with self._lock:
                    self.answered[key] += 1
            out.append(json.dumps({"id": rid, "custom_id": cid, "error": None, "response": {
                "status_code": 200, "request_id": rid, "body": reply}}))
        status = "expired" if b["_outcome"] == "expired" else "completed"
        now = int(time.time())
        b.update(status=status, output_file_id=self._store_file(out), error_file_id=self._store_file(err),
                 request_counts={"total": len(lines), "completed": len(out), "failed": len(err)},
                 **({"expired_at": now} if status == "expired" else {"completed_at": now}))

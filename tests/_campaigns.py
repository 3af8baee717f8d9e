"""Stores and servers for the campaign tests (imported by tests/test_campaign*.py and tests/test_web*.py).

``judges_store`` holds the bundled LLM-Rubric conversations and the GPT-3.5 expected-value judge but *no* human
ratings, so the only humans are a campaign's annotators and a plain ``auditor audit`` measures exactly them.
Conversation ``xss-probe`` carries script / onerror payloads that would set ``document.title`` to ``pwned``.
``Server`` runs a real ``auditor serve`` process on a free 127.0.0.1 port.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from auditor import Store
from auditor.demo import DEMO_MODEL, demo_data_dir

JUDGE = f"{DEMO_MODEL}:expected"
PWN = "document.title='pwned'"
XSS_TEXT = f"<script>{PWN}</script><img src=x onerror=\"{PWN}\"> XSS-PROBE-91c2"
AUDITOR = str(Path(sys.executable).with_name("auditor"))


def judges_store(path: Path, *, xss: bool = True) -> Path:
    d = demo_data_dir()
    with Store(path) as s:
        s.ingest_conversations(str(d / "conversations.jsonl"), user_kind="human")
        probs = {f"answer{k}_prob": f"prob_{k}" for k in range(1, 5)}
        s.ingest_signals(str(d / "gpt-3.5-turbo-16k_real_evaluations_FIXED.tsv"), rubric="llm_rubric",
                         rater_kind="judge", rater_id=JUDGE, model=DEMO_MODEL, score="expected", renormalize=True,
                         mapping={"text_id": "conversation_id", "criterion": "dimension", "sample_llm": "llm_sample",
                                  **probs})
        if xss:
            import pandas as pd

            messages = [{"role": "user", "content": XSS_TEXT},
                        {"role": "assistant", "content": "fine " + "long text " * 200}]
            s.ingest_conversations(pd.DataFrame({"conversation_id": ["xss-probe"],
                                                 "messages": [json.dumps(messages)]}), source_name="xss")
            # ingest refuses roles that are not chat roles; a store written before it checked may hold any
            messages[1]["role"] = "assistant<b>x</b>"
            s.con.execute("UPDATE conversations SET messages = ? WHERE conversation_id = 'xss-probe'",
                          [json.dumps(messages)])
    return path


def copy_of(base: Path, folder: Path, name: str = "store.duckdb") -> Path:
    """A private copy of a module-scoped base store, for one test to change."""
    import shutil

    path = folder / name
    shutil.copy(base, path)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(db: Path, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([AUDITOR, "--db", str(db), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


class Server:
    """``with Server(db) as srv: httpx.get(srv.url + "/")`` - a real `auditor serve` on a free loopback port."""

    def __init__(self, db: Path, *, bootstrap: int = 200):
        self.db, self.port, self.bootstrap = db, free_port(), bootstrap
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = db.with_suffix(f".serve{self.port}.log")

    def start(self) -> "Server":
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen([AUDITOR, "--db", str(self.db), "--wait", "30", "serve", "--port",
                                      str(self.port), "--bootstrap", str(self.bootstrap)],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"auditor serve exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("auditor serve did not start:\n" + self.log.read_text())

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def answers_for(annotator: str, item_id: int) -> dict[str, str]:
    """Deterministic answers of a scripted annotator (so a check can recompute what was sent)."""
    return {f"Q{i}": str(1 + (sum(map(ord, annotator)) + item_id * 7 + i) % 4) for i in range(9)}


def scripted_annotator(url: str, name: str, token: str, *, limit: int, acked: list, latencies: list,
                       errors: list) -> None:
    """GET next / POST answers until done, ``limit`` submissions, or the server goes away.

    Appends ``(name, item_id, conversation_id)`` to ``acked`` for every 200 and the POST latency to ``latencies``.
    """
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(limit):
            try:
                r = client.get(f"/api/a/{token}/next")
                if r.status_code == 204:
                    return
                item = r.json()
                t0 = time.perf_counter()
                r = client.post(f"/api/a/{token}/items/{item['item_id']}",
                                json={"answers": answers_for(name, item["item_id"])},
                                headers={"X-Form-Token": item["form_token"]})
                latencies.append(time.perf_counter() - t0)
            except (httpx.HTTPError, ValueError) as e:      # the server was killed: this answer is not acknowledged
                errors.append(repr(e))
                return
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:200]}")
                return
            acked.append((name, item["item_id"], item["conversation"]["conversation_id"]))


def run_load(url: str, tokens: dict[str, str], *, limit: int, acked: list | None = None) -> tuple[list, list, list]:
    """Every annotator in its own thread at once; returns (acked, latencies, errors). Pass ``acked`` to watch the
    acknowledgements arrive."""
    import threading

    acked = [] if acked is None else acked
    latencies, errors = [], []
    threads = [threading.Thread(target=scripted_annotator, args=(url, n, t),
                                kwargs=dict(limit=limit, acked=acked, latencies=latencies, errors=errors))
               for n, t in tokens.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acked, latencies, errors


def check_acked_stored(db: Path, acked: list) -> int:
    """Every acknowledged answer is in the store exactly once, with the values sent; returns the signal count."""
    with Store(db, read_only=True) as s:
        rows = s.con.execute("SELECT conversation_id, rater_id, dimension, label, count(*) OVER (PARTITION BY "
                             "conversation_id, rater_id, dimension) FROM signals s JOIN raters r USING (rater_id) "
                             "WHERE r.kind = 'human'").fetchall()
        items = dict(s.con.execute("SELECT conversation_id, item_id FROM campaign_items").fetchall())
    stored = {}
    for cid, rater, dim, label, n in rows:
        assert n == 1, f"{rater} / {cid} / {dim} stored {n} times"
        stored[(rater, cid, dim)] = label
    for name, item_id, cid in acked:
        assert items[cid] == item_id
        for dim, label in answers_for(name, item_id).items():
            assert stored.get((name, cid, dim)) == label, f"acknowledged answer lost: {name} item {item_id} {dim}"
    return len(rows)

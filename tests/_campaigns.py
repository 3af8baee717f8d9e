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
                        {"role": "assistant<b>x</b>", "content": "fine " + "long text " * 200}]
            s.ingest_conversations(pd.DataFrame({"conversation_id": ["xss-probe"],
                                                 "messages": [json.dumps(messages)]}), source_name="xss")
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

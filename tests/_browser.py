"""A minimal headless-Chromium driver over the DevTools protocol on a pipe (``--remote-debugging-pipe``).

No websocket, no extra package: Chromium reads JSON commands from fd 3 and writes replies and events to fd 4,
each message terminated by a NUL byte. Used by tests/test_report_browser.py; it installs nothing and the tests skip
when the browser is absent.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--mute-audio", "--hide-scrollbars"]


def chromium_path() -> str | None:
    """The Debian chromium binary, or None (the tests skip then)."""
    for p in (os.environ.get("AUDITOR_CHROMIUM"), CHROMIUM, shutil.which("chromium")):
        if p and Path(p).is_file() and os.access(p, os.X_OK):
            return p
    return None


class PageResult:
    """What one page load produced: console messages, exceptions, log entries, requests, dialogs, title, DOM."""

    def __init__(self):
        self.events: list[dict] = []
        self.title = ""
        self.dom = ""
        self.screenshot = b""
        self.evaluated: dict[str, object] = {}

    def of(self, method: str) -> list[dict]:
        return [e["params"] for e in self.events if e.get("method") == method]

    @property
    def console_errors(self) -> list[str]:
        out = [" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
               for p in self.of("Runtime.consoleAPICalled") if p.get("type") in ("error", "assert", "warning")]
        out += [p["exceptionDetails"].get("text", "") + " " + str(p["exceptionDetails"].get("exception", {})
                                                                   .get("description", ""))
                for p in self.of("Runtime.exceptionThrown")]
        out += [p["entry"].get("text", "") for p in self.of("Log.entryAdded")
                if p["entry"].get("level") in ("error", "warning")]
        return out

    @property
    def requests(self) -> list[str]:
        return [p["request"]["url"] for p in self.of("Network.requestWillBeSent")]

    @property
    def dialogs(self) -> list[str]:
        return [p.get("message", "") for p in self.of("Page.javascriptDialogOpening")]


class Browser:
    """``with Browser() as b: r = b.load(path)`` - one fresh headless Chromium with its own profile directory."""

    def __init__(self, binary: str | None = None, timeout: float = 60.0):
        self.binary = binary or chromium_path()
        if not self.binary:
            raise FileNotFoundError("chromium not found")
        self.timeout = timeout
        self._id = 0

    def __enter__(self) -> "Browser":
        self.profile = tempfile.mkdtemp(prefix="auditor-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._ev_r, ev_w = os.pipe()
        # move the child's ends above fd 10 first, so placing them on 3 and 4 cannot clobber one another
        hi_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        hi_w = fcntl.fcntl(ev_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(ev_w)

        def child_fds():  # chromium reads commands on fd 3 and writes on fd 4 (dup2 makes them inheritable)
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        try:
            self.proc = subprocess.Popen([self.binary, *FLAGS, f"--user-data-dir={self.profile}",
                                          "--remote-debugging-pipe", "about:blank"],
                                         close_fds=False, preexec_fn=child_fds, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        finally:
            os.close(hi_r)
            os.close(hi_w)
        self._q: queue.Queue = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.stderr: list[str] = []
        return self

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace"))

    def _reader(self):
        buf = b""
        with os.fdopen(self._ev_r, "rb", buffering=0) as f:
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    self._q.put(None)
                    return
                buf += chunk
                while b"\0" in buf:
                    msg, buf = buf.split(b"\0", 1)
                    self._q.put(json.loads(msg))

    def _next(self, deadline: float) -> dict:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("chromium did not answer in time")
        msg = self._q.get(timeout=left)
        if msg is None:
            raise RuntimeError("chromium closed the DevTools pipe; stderr:\n" + "".join(self.stderr[-20:]))
        return msg

    def send(self, method: str, params: dict | None = None, session: str | None = None, sink: list | None = None):
        self._id += 1
        mid = self._id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            r = self._next(deadline)
            if r.get("id") == mid:
                if "error" in r:
                    raise RuntimeError(f"{method}: {r['error']}")
                return r.get("result", {})
            if sink is not None:
                sink.append(r)

    def load(self, path: Path, *, javascript: bool = True, width: int = 1280, height: int = 900,
             full_page: bool = True, evaluate: dict[str, str] | None = None) -> PageResult:
        """Open ``path`` in a new tab, wait for the load event, collect events, DOM and a PNG screenshot."""
        res = PageResult()
        ev = res.events
        target = self.send("Target.createTarget", {"url": "about:blank"}, sink=ev)["targetId"]
        s = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, sink=ev)["sessionId"]
        for m in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.send(m, session=s, sink=ev)
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False}, session=s, sink=ev)
        if not javascript:
            self.send("Emulation.setScriptExecutionDisabled", {"value": True}, session=s, sink=ev)
        self.send("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=s, sink=ev)
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in ev):
            ev.append(self._next(deadline))
        time.sleep(0.5)   # let late events (errors, dialogs) arrive
        while not self._q.empty():
            m = self._q.get_nowait()
            if m is not None:
                ev.append(m)
        # read state through the DevTools DOM domain, so this works with page JavaScript disabled too
        doc = self.send("DOM.getDocument", {"depth": 0}, session=s, sink=ev)["root"]["nodeId"]
        res.dom = self.send("DOM.getOuterHTML", {"nodeId": doc}, session=s, sink=ev)["outerHTML"]
        res.title = self.send("Target.getTargets", sink=ev)["targetInfos"]
        res.title = next((t["title"] for t in res.title if t["targetId"] == target), "")
        for name, expr in (evaluate or {}).items():
            r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=s, sink=ev)
            res.evaluated[name] = r.get("result", {}).get("value")
        clip = None
        if full_page:
            size = self.send("Page.getLayoutMetrics", session=s, sink=ev)["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": width, "height": min(int(size["height"]) + 1, 16000), "scale": 1}
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full_page,
                                                    **({"clip": clip} if clip else {})}, session=s, sink=ev)
        res.screenshot = base64.b64decode(shot["data"])
        self.send("Target.closeTarget", {"targetId": target}, sink=ev)
        return res

    def __exit__(self, *exc):
        try:
            os.write(self._cmd_w, json.dumps({"id": 10 ** 6, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - make sure the browser goes away
            self.proc.kill()
            self.proc.wait(timeout=10)
        finally:
            os.close(self._cmd_w)
            shutil.rmtree(self.profile, ignore_errors=True)

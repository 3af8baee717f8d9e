"""Every wrong usage in ``_mistakes.MISTAKES`` through the CLI's own entry point (``auditor.cli.main``, in-process:
the same argument handling, error boundary and exit codes as the console script): a non-zero exit, one line on
stderr starting "Error: " that names the mistake and the fix, no traceback, and the shared store unchanged."""

from __future__ import annotations

import contextlib
import io
import shutil
import socket
import pytest

from _bad_inputs import CASES, build_base_store, snapshot
from _mistakes import MISTAKES, Mistake
from auditor import Store
from auditor.cli import main


def run_main(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    base = build_base_store(tmp_path_factory.mktemp("mistakes-base"))
    with Store(base, read_only=True) as s:
        snap = snapshot(s.con)
    return base, snap


@pytest.fixture(scope="module")
def closed_port() -> int:
    with socket.socket() as s:             # a port that was free a moment ago: nothing listens on it
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_corpora_hold_at_least_200_cases():
    ids = [m.id for m in MISTAKES]
    assert len(ids) == len(set(ids))
    assert len(MISTAKES) >= 100 and len(MISTAKES) + len(CASES) >= 200, (len(MISTAKES), len(CASES))


@pytest.mark.parametrize("case", MISTAKES, ids=lambda m: m.id)
def test_a_mistake_is_one_line_with_the_fix(case: Mistake, shared, closed_port, tmp_path, monkeypatch):
    base, snap = shared
    db = tmp_path / "store.duckdb"
    shutil.copy(base, db)
    folder = tmp_path / "case"
    folder.mkdir()
    for name, content in case.files.items():
        text = content if isinstance(content, bytes) else content.replace("{url}", f"http://127.0.0.1:{closed_port}/v1")
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("AUDITOR_LOCK_WAIT", "0")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    args = [a.replace("{db}", str(db)).replace("{dir}", str(folder)).replace("\\ ", " ") for a in case.args]
    code, out, err = run_main(args)
    assert code != 0, (code, out, err)
    if case.code is not None:
        assert code == case.code, (code, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    for word in case.says:
        assert word.lower() in lines[0].lower(), (word, lines[0])
    if not case.writes:
        with Store(db, read_only=True) as s:
            assert snapshot(s.con) == snap

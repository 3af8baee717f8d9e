"""Help says what a flag takes and groups the options; every command that prints a result has --json."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import typer

from _campaigns import AUDITOR
from auditor.cli import app
from auditor.cli._help import polish

NO_RESULT = {"serve", "demo"}       # a server; the demo writes a report and prints a walkthrough


def run(*args, **kw):
    env = {**os.environ, "COLUMNS": "140"}
    return subprocess.run([AUDITOR, *args], capture_output=True, text=True, timeout=120, env=env, **kw)


def leaves(cmd, path=()):
    subs = getattr(cmd, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from leaves(sub, path + (name,))
    else:
        yield " ".join(path), cmd


@pytest.mark.parametrize("command", [("audit",), ("compare",), ("report",), ("ingest", "signals"),
                                     ("annotate", "create"), ("judge", "run"), ()])
def test_metavars_name_what_a_flag_takes(command):
    r = run(*command, "-h")
    assert r.returncode == 0, r.stderr
    for typed in ("<bool>", "<list[str]>", "<int>", "<float>", "<int range>"):
        assert typed not in r.stdout, (command, typed, r.stdout)


def test_audit_options_are_grouped():
    out = run("audit", "-h").stdout
    for panel in ("Filters", "Statistics", "Gates", "Output"):
        assert f"─ {panel} " in out, out
    assert "STAT=VALUE" in out and "drop|wrong" in out and "RATER" in out


def test_every_command_that_prints_a_result_has_json():
    cmd = typer.main.get_command(app)
    polish(cmd)
    missing = [name for name, c in leaves(cmd) if name not in NO_RESULT
               and "--json" not in {o for p in c.params if p.param_type_name == "option" for o in p.opts}]
    assert missing == []


def test_json_of_init_export_validate(tmp_path):
    db = str(tmp_path / "s.duckdb")
    r = run("--db", db, "init", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["schema_version"] >= 3
    r = run("--db", db, "export", "raters", "--to", str(tmp_path / "r.csv"), "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"path": str(tmp_path / "r.csv"), "rows": 0}
    r = run("rubrics", "validate", "rubrics/likert5.yaml", "--json", cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode == 0 and json.loads(r.stdout)["rubric"] == "likert5"

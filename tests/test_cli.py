"""Every CLI command has help text and is documented in the README; global options behave."""

from __future__ import annotations

import re

import typer
from typer.testing import CliRunner

from auditor.cli import app

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

runner = CliRunner()


def _commands(group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        path = prefix + (name,)
        yield path, cmd
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, path)


def test_every_command_has_help_and_a_readme_mention():
    root = typer.main.get_command(app)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    paths = list(_commands(root))
    assert len(paths) >= 12
    missing_help, missing_doc = [], []
    for path, cmd in paths:
        if not (cmd.help or "").strip():
            missing_help.append(" ".join(path))
        res = runner.invoke(app, [*path, "--help"])
        assert res.exit_code == 0, (path, res.output)
        words = " ".join(path)
        if hasattr(cmd, "commands"):
            ok = re.search(rf"auditor {re.escape(words)}\b", readme)
        else:
            parent = " ".join(path[:-1])
            ok = re.search(rf"auditor {re.escape(words)}\b", readme) or (
                parent and re.search(rf"auditor {re.escape(parent)} .*\b{re.escape(path[-1])}\b", readme))
        if not ok:
            missing_doc.append(words)
    assert not missing_help, f"commands without help text: {missing_help}"
    assert not missing_doc, f"commands not mentioned in README.md: {missing_doc}"


def test_db_option_and_env(tmp_path, monkeypatch):
    db = tmp_path / "x.duckdb"
    res = runner.invoke(app, ["--db", str(db), "init"])
    assert res.exit_code == 0, res.output
    assert db.exists()
    env_db = tmp_path / "env.duckdb"
    monkeypatch.setenv("AUDITOR_DB", str(env_db))
    res = runner.invoke(app, ["init"])
    assert res.exit_code == 0 and env_db.exists()


def test_sql_on_missing_store_says_how_to_fix(tmp_path):
    res = runner.invoke(app, ["--db", str(tmp_path / "none.duckdb"), "sql", "SELECT 1"])
    assert res.exit_code == 1
    assert "auditor demo" in res.output and "no store" in res.output

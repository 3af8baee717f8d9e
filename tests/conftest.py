"""Shared fixtures: stores (in memory, on disk, the demo) and the shared real data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor import Store

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def mem_store():
    s = Store(":memory:")
    yield s
    s.close()


@pytest.fixture
def file_store(tmp_path):
    s = Store(tmp_path / "store.duckdb")
    yield s
    s.close()


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """A store file built by the demo loader (bundled data; no shared/ needed)."""
    from auditor.demo import build_demo_store

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with Store(path) as s:
        build_demo_store(s, "llm-rubric")
    return path


@pytest.fixture(scope="session")
def hanna_db(tmp_path_factory) -> Path:
    """A store with the demo's HANNA part only (bundled data)."""
    from auditor.demo import build_demo_store

    path = tmp_path_factory.mktemp("hanna") / "hanna.duckdb"
    with Store(path) as s:
        build_demo_store(s, "hanna")
    return path


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA} (it sits beside the repository in CI)")
    return SHARED_DATA

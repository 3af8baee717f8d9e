"""Start-up and small-audit latency of the CLI (issue 15's "small audits feel instant").

    .venv/bin/python benchmarks/bench_cli.py [--runs 5]

Times whole processes, median of ``--runs``, wall and CPU (user + system of the child): ``auditor --help`` against
``python -c pass`` and ``python -c "import duckdb"`` in the same run, and ``auditor audit`` (B = 1,000) on the demo
store's LLM-Rubric part (223 conversations, ``demo --dataset llm-rubric``) against ``import auditor.audit`` (the
imports an audit needs); then the audit of the whole demo store (LLM-Rubric + HANNA: 1,379 conversations, 7 judges,
system-level rows). Targets on the 2-core machine: ``--help`` <= 0.4 s, the LLM-Rubric demo audit <= 2 s wall.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).with_name("auditor")


def timed(cmd: list[str], runs: int, **kw) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def line(label: str, wc: tuple[float, float], base: tuple[float, float] | None = None, base_label: str = "") -> None:
    ratio = f"  ({wc[0] / base[0]:.1f}x {base_label})" if base else ""
    print(f"{label:<44} {wc[0]:6.2f} s wall {wc[1]:6.2f} s CPU{ratio}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    bare = timed([py, "-c", "pass"], args.runs)
    line("python -c pass", bare)
    duck = timed([py, "-c", "import duckdb"], args.runs)
    line("python -c 'import duckdb'", duck, bare, "python")
    line("auditor --help", timed([str(BIN), "--help"], args.runs), duck, "import duckdb")
    with tempfile.TemporaryDirectory() as d:
        db = str(Path(d) / "demo.duckdb")
        env = {**os.environ, "AUDITOR_DB": db}
        subprocess.run([str(BIN), "demo", "--dataset", "llm-rubric", "--bootstrap", "10", "--out",
                        str(Path(d) / "demo.html")], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=env)
        imports = timed([py, "-c", "import auditor.audit, auditor.store"], args.runs)
        line("python -c 'import auditor.audit' (the imports)", imports, bare, "python")
        small = timed([str(BIN), "audit"], args.runs, env=env)
        line("auditor audit, LLM-Rubric demo (B = 1,000)", small, imports, "its imports")
        subprocess.run([str(BIN), "demo", "--dataset", "hanna", "--bootstrap", "10", "--out",
                        str(Path(d) / "demo.html")], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=env)
        line("auditor audit, whole demo store (B = 1,000)", timed([str(BIN), "audit"], args.runs, env=env), small,
             "LLM-Rubric alone")


if __name__ == "__main__":
    main()

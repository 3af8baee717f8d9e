"""Annotation under load: 50 scripted annotators x 40 submissions each against a running `auditor serve`.

    python benchmarks/bench_serve.py [--annotators 50] [--per-annotator 40] [--overlap 9]

The store holds the bundled LLM-Rubric conversations and a judge (tests/_campaigns.py, `judges_store`); a campaign
of every conversation gives each annotator ``per-annotator`` items. Each annotator is a thread with its own HTTP
connection that loops GET /api/a/{token}/next, POST its answers (9 questions). Printed: submissions/s, POST latency
p50 / p90 / p99, the server process's CPU seconds beside wall time, and - as the baseline measured in the same run -
the same number of next/submit pairs through the library in this process (no HTTP, no concurrency), as a ratio.
Afterwards every acknowledged answer is checked to be in the store exactly once. No assertion on time.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from _campaigns import Server, answers_for, check_acked_stored, judges_store, run_load  # noqa: E402
from auditor import Store  # noqa: E402
from auditor.campaign import create_campaign, next_item, resolve_annotator, submit  # noqa: E402


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100          # utime + stime, in clock ticks of 1/100 s


def library_baseline(base: Path, folder: Path, n: int) -> float:
    """Seconds for ``n`` next/submit pairs through the library, sequentially, in this process."""
    db = folder / "baseline.duckdb"
    db.write_bytes(base.read_bytes())
    with Store(db) as s:
        made = create_campaign(s, "base", rubric="llm_rubric", annotators="solo", overlap=1)
        who = resolve_annotator(s, made.annotators["solo"])
        t0 = time.perf_counter()
        for _ in range(n):
            item = next_item(s, who)
            submit(s, who, item["item_id"], answers_for("solo", item["item_id"]))
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--annotators", type=int, default=50)
    ap.add_argument("--per-annotator", type=int, default=40)
    ap.add_argument("--overlap", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        base = judges_store(folder / "base.duckdb", xss=False)
        db = folder / "store.duckdb"
        db.write_bytes(base.read_bytes())
        with Store(db) as s:
            made = create_campaign(s, "load", rubric="llm_rubric", overlap=args.overlap,
                                   annotators=[f"ann{i:02d}" for i in range(args.annotators)])
        print(f"campaign: {made.n_items} items x {args.overlap} annotators; loads {min(made.loads.values())}-"
              f"{max(made.loads.values())} items per annotator")
        with Server(db) as srv:
            cpu0 = _cpu_of(srv.proc.pid)
            client0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            acked, lat, errors = run_load(srv.url, made.annotators, limit=args.per_annotator)
            wall = time.perf_counter() - t0
            server_cpu = _cpu_of(srv.proc.pid) - cpu0
            client1 = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = (client1.ru_utime + client1.ru_stime) - (client0.ru_utime + client0.ru_stime)
        n = len(acked)
        check_acked_stored(db, acked)
        p50, p90, p99 = np.percentile(np.array(lat) * 1000, [50, 90, 99])
        n_base = min(n, 200)
        per_lib = library_baseline(base, folder, n_base) / n_base
        print(f"serve: {n} acknowledged submissions from {args.annotators} concurrent annotators in {wall:.1f} s wall "
              f"= {n / wall:.1f} submissions/s; errors {len(errors)}")
        print(f"  POST latency ms: p50 {p50:.0f}  p90 {p90:.0f}  p99 {p99:.0f}")
        print(f"  server CPU {server_cpu:.1f} s ({server_cpu / n * 1000:.1f} ms per next+submit); load generator CPU "
              f"{client_cpu:.1f} s (same 2 cores)")
        print(f"baseline (library, in process, sequential): {per_lib * 1000:.1f} ms per next+submit = "
              f"{1 / per_lib:.1f}/s; serve throughput / library = {(n / wall) * per_lib:.2f}")
        print("every acknowledged answer is in the store exactly once: yes")


if __name__ == "__main__":
    main()

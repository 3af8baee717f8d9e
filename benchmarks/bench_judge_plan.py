"""Memory of a judge run's plan on a large store (issue 14 part 3: plans that stream).

    .venv/bin/python benchmarks/bench_judge_plan.py [--conversations 1000000] [--chars 1000] [--store PATH]
                                                    [--run-limit 2000] [--no-baseline]

1. Builds a store of N conversations (three messages, about ``--chars`` characters in all) with ``auditor ingest
   conversations`` of a Parquet file DuckDB writes, in a private temporary folder removed at the end (or cached in
   ``--store PATH``, ``{n}`` = N, for reruns).
2. In a child process: ``plan_items`` for a judge over all N conversations, then every planned item read in order
   (what a run does with its plan, without the requests): wall, CPU seconds and peak RSS.
3. Baseline, in a child process: the same items read the way plans were read before they streamed (one query
   returning every item with its messages, ``fetchall``): the same figures. ``--no-baseline`` skips it.
4. In a child process: a real ``run_judge`` on that store against the fake OpenAI endpoint
   (``tests/fake_openai.py``, no latency) for the first ``--run-limit`` conversations: the run's bookkeeping with a
   store of this size (0 skips it).
Target (issue 14): peak RSS <= 1 GB for the plan and run bookkeeping on a 1M-conversation store.
No assertions on time: the figures are printed, the baseline measured in this same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

GEN = """COPY (SELECT 'c' || lpad(i::VARCHAR, 8, '0') AS conversation_id, 't' || (i % 500) AS task_id,
    CASE WHEN i % 2 = 0 THEN 'human' ELSE 'sim-a' END AS user_kind,
    to_json([{{'role': 'user', 'content': 'Hello, I need help with order ' || i || '. ' || repeat('x', {pad})}},
             {{'role': 'assistant', 'content': 'Sure, order ' || i || ' is on its way. ' || repeat('y', {pad})}},
             {{'role': 'user', 'content': 'Thanks!'}}])::VARCHAR AS messages
    FROM range({n}) t(i)) TO '{path}' (FORMAT parquet)"""

CHILD_PLAN = """
import json, sys, time
def hwm_mb():  # this process's peak RSS (VmHWM; ru_maxrss would carry over the parent's across exec)
    for ln in open("/proc/self/status"):
        if ln.startswith("VmHWM:"):
            return int(ln.split()[1]) / 1024
sys.path.insert(0, {tests!r})
from auditor import Store
from auditor.judge import load_judge
from auditor.judge._records import plan_items
t, c = time.perf_counter(), time.process_time()
n = chars = 0
with Store({db!r}) as s:
    plan = plan_items(s, load_judge({cfg!r}), samples=1)
    for item in plan.items:
        n += 1
        chars += len(item.conversation["messages"])
print(json.dumps({{"items": n, "chars": chars, "wall": time.perf_counter() - t, "cpu": time.process_time() - c,
                  "rss_mb": hwm_mb()}}))
"""

# what plan_items did before plans streamed: every item's messages in one fetchall
CHILD_BASELINE = """
import json, time
def hwm_mb():  # this process's peak RSS (VmHWM; ru_maxrss would carry over the parent's across exec)
    for ln in open("/proc/self/status"):
        if ln.startswith("VmHWM:"):
            return int(ln.split()[1]) / 1024
import duckdb
t, c = time.perf_counter(), time.process_time()
con = duckdb.connect({db!r}, read_only=True)
rows = con.execute(
    "WITH sel AS (SELECT conversation_id, conv_key FROM conversations WHERE messages IS NOT NULL ORDER BY conv_key), "
    "smp AS (SELECT range::INTEGER AS sample FROM range(1)), "
    "st AS (SELECT conversation_id, sample, bool_and(status <> 'failed') AS answered FROM signals "
    "WHERE rater_id = 'none' GROUP BY conversation_id, sample) "
    "SELECT sel.conversation_id, smp.sample, st.answered, c.task_id, c.user_kind, c.reward, c.n_turns, "
    "CASE WHEN st.answered IS NOT TRUE THEN c.messages::VARCHAR END, "
    "CASE WHEN st.answered IS NOT TRUE THEN c.metadata::VARCHAR END "
    "FROM sel CROSS JOIN smp JOIN conversations c ON c.conversation_id = sel.conversation_id "
    "LEFT JOIN st ON st.conversation_id = sel.conversation_id AND st.sample = smp.sample "
    "ORDER BY sel.conv_key, smp.sample").fetchall()
items = [({{"id": r[0], "task_id": r[3], "user_kind": r[4], "reward": r[5], "n_turns": r[6], "messages": r[7],
           "metadata": r[8]}}, r[1]) for r in rows]
chars = sum(len(i[0]["messages"]) for i in items)
print(json.dumps({{"items": len(items), "chars": chars, "wall": time.perf_counter() - t,
                  "cpu": time.process_time() - c, "rss_mb": hwm_mb()}}))
"""

CHILD_RUN = """
import json, sys, time
def hwm_mb():  # this process's peak RSS (VmHWM; ru_maxrss would carry over the parent's across exec)
    for ln in open("/proc/self/status"):
        if ln.startswith("VmHWM:"):
            return int(ln.split()[1]) / 1024
sys.path.insert(0, {tests!r})
from auditor import Store
from auditor.judge import load_judge, run_judge
t, c = time.perf_counter(), time.process_time()
with Store({db!r}) as s:
    res = run_judge(s, load_judge({cfg!r}), env={{"AUDITOR_TEST_KEY": "sk-bench"}}, limit={limit})
print(json.dumps({{"status": res.status, "done": res.n_done, "failed": res.n_failed, "planned": res.n_planned,
                  "wall": time.perf_counter() - t, "cpu": time.process_time() - c,
                  "rss_mb": hwm_mb()}}))
"""


def child(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def build(db: Path, n: int, chars: int, folder: Path) -> None:
    import duckdb

    from auditor import Store

    pq = folder / "conversations.parquet"
    duckdb.connect().execute(GEN.format(n=n, pad=max(0, (chars - 90) // 2), path=str(pq)))
    t = time.perf_counter()
    with Store(db) as s:
        s.ingest_conversations(str(pq))
    print(f"built {db}: {n:,} conversations in {time.perf_counter() - t:.1f} s", flush=True)
    pq.unlink()


def line(label: str, r: dict) -> None:
    print(f"{label:<58} {r['wall']:7.1f} s wall {r['cpu']:7.1f} s CPU  peak RSS {r['rss_mb'] / 1024:5.2f} GB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conversations", type=int, default=1_000_000)
    ap.add_argument("--chars", type=int, default=1000, help="characters of messages per conversation (about)")
    ap.add_argument("--store", help="cache the store here ({n} = conversations)")
    ap.add_argument("--run-limit", type=int, default=2000)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from conftest_judge import write_config
    from fake_openai import FakeOpenAI

    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        db = Path(args.store.format(n=args.conversations)) if args.store else folder / "store.duckdb"
        if not db.exists():
            build(db, args.conversations, args.chars, folder)
        with FakeOpenAI() as fake:
            cfg = write_config(folder / "cfg", fake.url, concurrency=16)
            tests = str(REPO / "tests")
            plan = child(CHILD_PLAN.format(tests=tests, db=str(db), cfg=str(cfg)))
            line(f"plan + read {plan['items']:,} items ({plan['chars'] / 1e6:,.0f} M chars of messages)", plan)
            if not args.no_baseline:
                base = child(CHILD_BASELINE.format(db=str(db)))
                line(f"before: one fetchall of {base['items']:,} items", base)
                print(f"peak RSS: {plan['rss_mb'] / base['rss_mb']:.2f}x the fetchall's", flush=True)
            if args.run_limit:
                run = child(CHILD_RUN.format(tests=tests, db=str(db), cfg=str(cfg), limit=args.run_limit))
                line(f"run_judge, first {run['done']:,} of {args.conversations:,} ({run['status']})", run)
        print("target: peak RSS <= 1 GB for the plan and run bookkeeping on a 1M-conversation store", flush=True)


if __name__ == "__main__":
    main()

"""Judge runner throughput against the fake OpenAI-compatible server, next to the raw openai client.

The server (tests/fake_openai.py) runs in its own process with 50 ms latency per reply, so it does not share the
client's GIL. For each concurrency we time

- ``raw``: openai's ``AsyncOpenAI`` alone sending the very same requests (the judge's prompt and tool schema) with
  ``chat.completions.create`` and parsing the replies into ``ChatCompletion`` objects: the endpoint's capacity as
  seen from this machine, through the SDK as a user would call it;
- ``post``: the same client sending the same bodies with ``client.post("/chat/completions")``, which skips the SDK's
  typed transform of the parameters, as auditor's runner does (the floor for this client);
- ``auditor``: ``run_judge`` end to end: planning from the store, prompt rendering, instructor's request
  preparation and validation, retries machinery, and committing every signal to DuckDB as it arrives.

At concurrency 1 both use the first 100 conversations (2,000 sequential 50 ms requests would take > 100 s); at 16
and 64, all 2,000. Then the 2,000-conversation config is run again: everything is stored, nothing is requested
(``cached``), timed in-process and as a whole ``auditor judge run`` command (Python start-up and imports included).

Targets: auditor >= 0.9 x raw (create) at concurrency 1, 16 and 64 (issue 14; 0.8 at 64 in issue 5); cached re-run
of 2,000 conversations <= 2 s.

    python benchmarks/bench_judge.py [--n 2000] [--latency 0.05] [--out benchmarks/results/bench_judge.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from auditor import Store  # noqa: E402
from auditor.judge import load_judge, run_judge  # noqa: E402

KEY_ENV = "AUDITOR_TEST_KEY"           # the name tests/conftest_judge.py configs use
ENV = {KEY_ENV: "sk-bench-not-a-real-key"}


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "fake_openai.py"), "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    return proc, url


def make_store(path: Path, n: int) -> None:
    from conftest_judge import conversations

    with Store(path) as s:
        s.ingest_conversations(conversations(n), source_name="bench")


def write_config(folder: Path, url: str, name: str, concurrency: int) -> Path:
    from conftest_judge import write_config as wc

    return wc(folder, url, name=name, concurrency=concurrency, timeout_s=30, max_retries=3)


def requests_for(judge, db: Path, n: int) -> list[dict]:
    """The exact request kwargs the judge sends for the first n conversations."""
    from auditor.judge._call import ItemCaller
    from auditor.judge._prompt import PromptRenderer
    from auditor.judge._records import plan_items

    renderer = PromptRenderer(judge.prompt_text, judge.rubric, judge.role)
    caller = ItemCaller(judge, client=None)
    with Store(db) as s:            # a plan reads its items from the store as they are consumed
        plan = plan_items(s, judge, samples=1, limit=n)
        return [caller.request_kwargs(renderer.render(it.conversation, it.sample))[1] for it in plan.items]


async def raw_rate(url: str, reqs: list[dict], concurrency: int, post: bool = False) -> tuple[float, float]:
    """The raw ``openai`` async client: ``chat.completions.create(**kw)``, or with ``post`` the same body sent with
    ``client.post`` (what auditor's runner does: no typed transform of the parameters)."""
    import httpx2
    import openai
    from openai.types.chat import ChatCompletion

    limits = httpx2.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0, timeout=30,
                                http_client=openai.DefaultAsyncHttpxClient(limits=limits))
    it = iter(reqs)

    async def worker():
        for kw in it:
            if post:
                await client.post("/chat/completions", cast_to=ChatCompletion, body=kw,
                                  options={"security": {"bearer_auth": True}})
            else:
                await client.chat.completions.create(**kw)

    t, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    dt, dcpu = time.perf_counter() - t, time.process_time() - cpu
    await client.close()
    return len(reqs) / dt, dcpu / len(reqs) * 1000


def auditor_rate(db: Path, cfg: Path, n: int, concurrency: int) -> tuple[float, float]:
    """(requests/s, client CPU ms per request: this process, all threads)."""
    with Store(db) as s:
        judge = load_judge(cfg)
        t, cpu = time.perf_counter(), time.process_time()
        res = run_judge(s, judge, env=ENV, limit=n, concurrency=concurrency)
        dt, dcpu = time.perf_counter() - t, time.process_time() - cpu
    assert res.status == "finished" and res.n_done == n and res.n_failed == 0, res
    return n / dt, dcpu / n * 1000


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--n1", type=int, default=100, help="conversations at concurrency 1")
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=3, help="alternating repeats at concurrency 16 and 64 (best kept)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    proc, url = start_server(args.latency)
    out: dict = {"n": args.n, "n_at_c1": args.n1, "latency_s": args.latency, "cpus": os.cpu_count(),
                 "load_avg_start": os.getloadavg()[0], "rows": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            db = tmp / "bench.duckdb"
            make_store(db, args.n)
            # warm-up: imports, connections, first-call caches (not timed)
            warm = write_config(tmp / "warm", url, "warm", 16)
            asyncio.run(raw_rate(url, requests_for(load_judge(warm), db, 50), 16))
            auditor_rate(db, warm, 50, 16)
            for c in (1, 16, 64):
                n = args.n1 if c == 1 else args.n
                best_raw = best_post = best_aud = (0.0, 0.0)
                for rep in range(args.repeats if c > 1 else 1):     # alternate, keep the best of each
                    cfg = write_config(tmp / f"c{c}-{rep}", url, f"bench-c{c}-{rep}", c)
                    reqs = requests_for(load_judge(cfg), db, n)
                    raw = asyncio.run(raw_rate(url, reqs, c))
                    post = asyncio.run(raw_rate(url, reqs, c, post=True))
                    aud = auditor_rate(db, cfg, n, c)
                    best_raw, best_post, best_aud = max(best_raw, raw), max(best_post, post), max(best_aud, aud)
                    last_cfg = cfg
                (raw, raw_cpu), (post, post_cpu), (aud, aud_cpu) = best_raw, best_post, best_aud
                row = {"concurrency": c, "n": n, "raw_rps": round(raw, 1), "raw_post_rps": round(post, 1),
                       "auditor_rps": round(aud, 1), "ratio": round(aud / raw, 3),
                       "ratio_to_post": round(aud / post, 3), "raw_cpu_ms_per_req": round(raw_cpu, 3),
                       "raw_post_cpu_ms_per_req": round(post_cpu, 3), "auditor_cpu_ms_per_req": round(aud_cpu, 3)}
                out["rows"].append(row)
                print(f"concurrency {c:>3} n={n:>5}: raw openai create {raw:6.1f} req/s ({raw_cpu:.2f} ms CPU/req), "
                      f"post {post:6.1f} ({post_cpu:.2f}) | auditor {aud:6.1f} req/s ({aud_cpu:.2f} ms CPU/req) | "
                      f"ratio {aud / raw:4.2f} to create, {aud / post:4.2f} to post", flush=True)
            cfg = last_cfg                       # its 2,000 conversations are all stored now
            with Store(db) as s:
                t = time.perf_counter()
                res = run_judge(s, load_judge(cfg), env=ENV)
                cached = time.perf_counter() - t
            assert res.n_cached == args.n and res.n_done == 0, res
            t = time.perf_counter()
            cp = subprocess.run([sys.executable, "-c", "from auditor.cli import main; main()", "--db", str(db),
                                 "judge", "run", str(cfg), "-q"], env={**os.environ, **ENV}, capture_output=True)
            cli = time.perf_counter() - t
            assert cp.returncode == 0, cp.stderr
            out.update(cached_rerun_s=round(cached, 3), cached_rerun_cli_s=round(cli, 3))
            print(f"cached re-run of {args.n}: {cached:.3f} s in-process, {cli:.2f} s as `auditor judge run` "
                  "(process start and imports included)", flush=True)
    finally:
        proc.kill()
        proc.wait()
    out["load_avg_end"] = os.getloadavg()[0]
    low = min(out["rows"], key=lambda r: r["ratio"])
    print(f"target (issue 14): ratio to the raw client's create >= 0.9 at 1, 16 and 64: "
          f"{'met' if low['ratio'] >= 0.9 else 'NOT met'} (lowest {low['ratio']:.2f} at {low['concurrency']}); "
          f"cached <= 2 s: {'met' if out['cached_rerun_s'] <= 2 else 'NOT met'} ({out['cached_rerun_s']:.2f} s); "
          f"load average {out['load_avg_start']:.1f} -> {out['load_avg_end']:.1f} on {out['cpus']} CPUs")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()

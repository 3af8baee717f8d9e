"""Run a judge over the store's conversations: plan, ask concurrently, store as results arrive.

- **Plan** (:func:`auditor.judge._records.plan_items`): selected conversations x sample indices, minus what is stored.
- **Ask**: ``concurrency`` workers share one HTTP client and one :class:`~auditor.judge._call.ItemCaller`
  (retries, backoff with jitter, ``Retry-After``, timeouts, instructor re-asks).
- **Store**: a writer thread commits finished items as they arrive (group commit: an item is its own commit at
  low rates; at high rates at most one commit per 100 ms takes everything queued), so the event loop never waits
  on the disk. A crash loses only requests in flight and items answered in the last ~100 ms before it.
- **Stop**: Ctrl-C (a cancelled run) stops the workers, commits everything finished and records the run as
  ``interrupted``; an endpoint that refuses every request (401/403/404) or cannot be reached stops it as ``failed``.

The library reports progress through a callback and never prints.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import queue
import threading
import time
from typing import Any, Callable, Mapping

from ..errors import AuditorError, ConfigError
from .._redact import make_redactor, safe_url
from ._call import FatalEndpointError, ItemCaller, ItemResult
from ._transport import make_client
from ._config import Judge
from ._prompt import PromptRenderer

__all__ = ["Progress", "RunResult", "run_judge", "run_judge_async"]


@dataclasses.dataclass
class Progress:
    """A snapshot for a progress display. Counts are items (conversation x sample)."""

    planned: int
    cached: int
    to_do: int
    done: int = 0
    failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    elapsed_s: float = 0.0          # since the first request was sent
    note: str | None = None         # the latest announcement (e.g. a long wait the server asked for)
    n_notes: int = 0                # how many announcements so far (a display prints each new one)

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def rate(self) -> float:
        """Finished items per second so far."""
        return self.finished / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclasses.dataclass
class RunResult:
    """What a run did (also stored in the ``runs`` table)."""

    run_id: str | None
    rater_id: str
    config_hash: str
    status: str                    # finished | interrupted | failed
    n_planned: int
    n_cached: int
    n_done: int
    n_failed: int
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    wall_s: float
    n_without_messages: int = 0
    error: str | None = None
    startup_s: float = 0.0          # planning, imports, the first prompt: before the first request
    request_s: float = 0.0          # in requests, summed over the workers
    retry_wait_s: float = 0.0       # waiting before retries (backoff, Retry-After), summed over the workers
    first_failure: str | None = None    # the reason of the first item that failed (redacted)
    n_in_batches: int = 0               # selected items waiting in provider batches (not asked: `judge collect`)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_STOP = object()


class _Writer:
    """Commits results from a queue on its own thread (the store's connection is used only here meanwhile).

    Group commit: an item that arrives when the writer is idle is committed at once; while commits are frequent,
    at most one commit per ``min_interval_s`` takes whatever has queued since (a DuckDB commit costs the same for
    1 row as for 500, so per-item commits would make the disk, not the endpoint, the bottleneck). An answered item
    is thus committed within ``min_interval_s`` plus one commit of its reply. The run's counters (items, tokens,
    cost) are written in the same transaction as the items they count, so after a kill -9 they equal what is
    stored (only replies received but not yet committed are lost, and requested again by the next run).
    """

    def __init__(self, store, judge: Judge, run_id: str, t0: float, *, max_batch: int = 1024,
                 min_interval_s: float = 0.1, redact: Callable[[str], str] = lambda s: s):
        self.store, self.judge, self.run_id, self.t0 = store, judge, run_id, t0
        self.redact = redact
        self.max_batch, self.min_interval_s = max_batch, min_interval_s
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.n_done = self.n_failed = self.tokens_in = self.tokens_out = self.n_commits = 0
        self.thread = threading.Thread(target=self._loop, name="auditor-judge-writer", daemon=True)
        self.thread.start()

    @property
    def cost_usd(self) -> float | None:
        return self.judge.cost_usd(self.tokens_in, self.tokens_out)

    def counters(self) -> dict:
        """The run record's counters for what has been committed."""
        return {"n_done": self.n_done, "n_failed": self.n_failed, "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out, "cost_usd": self.cost_usd, "wall_s": time.monotonic() - self.t0}

    def put(self, result: ItemResult) -> None:
        """Queue a result for commit; its error and raw text pass the run's redaction on the way to the store."""
        result.error, result.raw = self.redact(result.error), self.redact(result.raw)
        self.q.put(result)

    def _loop(self) -> None:
        from ._records import write_results

        stop = False
        last_commit = float("-inf")
        while not stop:
            first = self.q.get()
            if first is _STOP:
                return
            wait = last_commit + self.min_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self.q.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            if self.error is not None:
                continue          # keep draining so close() returns; nothing more is written
            ok = sum(r.status == "ok" for r in batch)
            before = (self.n_done, self.n_failed, self.tokens_in, self.tokens_out)
            self.n_done += ok
            self.n_failed += len(batch) - ok
            self.tokens_in += sum(r.tokens_in for r in batch)
            self.tokens_out += sum(r.tokens_out for r in batch)
            try:
                write_results(self.store, self.judge, self.run_id, batch, counters=self.counters())
            except BaseException as e:  # noqa: BLE001 - reported to the run, which stops
                self.n_done, self.n_failed, self.tokens_in, self.tokens_out = before
                self.error = e
                continue
            last_commit = time.monotonic()
            self.n_commits += 1

    def close(self) -> None:
        self.q.put(_STOP)
        self.thread.join()


def _nothing_to_judge(where: str | None, limit: int | None, n_without_messages: int) -> str:
    if limit == 0:
        return "--limit 0 selects no conversation. Fix: give a positive --limit, or leave it out."
    if where:
        return (f"--where {where!r} matched no conversation with messages. Fix: loosen the filter (`auditor sql "
                "\"SELECT conversation_id, task_id, user_kind FROM conversations LIMIT 5\"` shows what is there).")
    without = (f" ({n_without_messages} conversation(s) have no messages: they were created by a signals load)"
               if n_without_messages else "")
    return (f"no conversation to judge: the store has no conversation with messages{without}. Fix: load them with "
            "`auditor ingest conversations FILE` (messages as a JSON list of {role, content}) or `auditor ingest "
            "tau-bench RESULTS.json`.")


async def run_judge_async(store, judge: Judge, *, where: str | None = None, limit: int | None = None,
                          concurrency: int | None = None, env: Mapping[str, str] | None = None,
                          progress: Callable[[Progress], None] | None = None, backoff_base_s: float = 0.5,
                          client: Any = None) -> RunResult:
    """Async form of :func:`run_judge` (for callers that already run an event loop)."""
    from ._records import plan_items

    t0 = time.monotonic()
    k = concurrency or judge.config.concurrency
    if k < 1:
        raise AuditorError(f"--concurrency {k}: must be >= 1")
    # plan and check before anything is written: a rejected --where or an empty selection leaves the store as it was
    plan = plan_items(store, judge, samples=judge.config.samples, where=where, limit=limit)
    if plan.n_planned == 0:
        raise AuditorError(_nothing_to_judge(where, limit, plan.n_without_messages))
    try:
        return await _run_plan(store, judge, plan, k, t0, where=where, limit=limit, env=env, progress=progress,
                               backoff_base_s=backoff_base_s, client=client)
    finally:
        plan.close()


async def _run_plan(store, judge: Judge, plan, k: int, t0: float, *, where, limit, env, progress, backoff_base_s,
                    client) -> RunResult:
    from ._records import finish_run, save_judge, start_run

    renderer = PromptRenderer(judge.prompt_text, judge.rubric, judge.role, judge.prompt_path)
    first_messages = None
    pending_items = iter(plan.items)
    first = next(pending_items, None)
    if first is not None:  # a template that fails for the first conversation fails for all: say so before any request
        first_messages = renderer.render(first.conversation, first.sample)
    api_key = judge.api_key(env) if plan.n_todo and client is None else None     # an unset key: nothing written
    save_judge(store, judge)
    run_id = start_run(store, judge, plan, metadata={"where": where, "limit": limit, "concurrency": k})
    result = RunResult(run_id, judge.rater_id, judge.config_hash, "finished", plan.n_planned, plan.n_cached, 0, 0,
                       0, 0, judge.cost_usd(0, 0), 0.0, plan.n_without_messages, n_in_batches=plan.n_in_batches)
    if plan.n_todo == 0:
        result.wall_s = time.monotonic() - t0
        finish_run(store, run_id, "finished", counters={"n_done": 0, "n_failed": 0, "tokens_in": 0, "tokens_out": 0,
                                                        "cost_usd": result.cost_usd, "wall_s": result.wall_s})
        return result

    snap = Progress(plan.n_planned, plan.n_cached, plan.n_todo, cost_usd=judge.cost_usd(0, 0))
    redact = make_redactor(api_key, judge.base_url)
    own_client = client is None
    if own_client:
        client = make_client(judge.base_url, api_key, concurrency=k, timeout_s=judge.config.timeout_s,
                             max_reply_bytes=judge.config.max_reply_bytes)

    def notify(msg: str) -> None:
        snap.note, snap.n_notes = msg, snap.n_notes + 1
        report()

    caller = ItemCaller(judge, client, backoff_base_s=backoff_base_s, redact=redact, notify=notify)
    caller.request_kwargs(first_messages)           # instructor's imports and request template, before the clock
    writer = _Writer(store, judge, run_id, t0, redact=redact)
    items = itertools.chain([first], pending_items)
    conn_fail_streak = 0
    conn_fails = {"n": 0}
    first_failure: list[str] = []
    streak_limit = max(3, k)
    status, error = "finished", None

    t_start = time.monotonic()          # requests start now (imports and planning are behind us)

    def report() -> None:
        if progress is not None:
            snap.elapsed_s = time.monotonic() - t_start
            snap.cost_usd = judge.cost_usd(snap.tokens_in, snap.tokens_out)
            progress(snap)

    async def worker() -> None:
        nonlocal conn_fail_streak
        for item in items:
            if writer.error is not None:
                raise writer.error
            try:
                messages = renderer.render(item.conversation, item.sample)
            except ConfigError as e:
                res = ItemResult(item.conversation_id, item.sample, "failed", error=f"prompt: {e}")
            else:
                res = await caller.call(item.conversation_id, item.sample, messages)
            res.replaces_failure = item.replaces_failure
            writer.put(res)
            snap.tokens_in += res.tokens_in
            snap.tokens_out += res.tokens_out
            if res.status == "ok":
                snap.done += 1
                conn_fail_streak = 0
            else:
                snap.failed += 1
                if not first_failure and res.error:
                    first_failure.append(res.error)
                conn_fail_streak = conn_fail_streak + 1 if res.connection_error else 0
                conn_fails["n"] += bool(res.connection_error)
                if conn_fail_streak >= streak_limit:
                    raise FatalEndpointError(f"cannot reach {safe_url(judge.base_url)}: the last {conn_fail_streak} "
                                             f"items found nothing to connect to ({res.error}). Fix: start the "
                                             "server or correct base_url; rerun to resume.")
            report()

    report()
    tasks = [asyncio.ensure_future(worker()) for _ in range(min(k, plan.n_todo))]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()
    except asyncio.CancelledError:
        status = "interrupted"
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
    except (FatalEndpointError, AuditorError) as e:
        status, error = "failed", str(e)
    except Exception as e:  # noqa: BLE001 - recorded on the run, then re-raised
        status, error = "failed", f"{type(e).__name__}: {e}"
        raise
    finally:
        if own_client:
            try:
                await asyncio.shield(client.close())
            except BaseException:  # noqa: BLE001 - closing sockets must not hide the run's outcome
                pass
        writer.close()
        if writer.error is not None and status != "failed":
            status, error = "failed", f"store write failed: {writer.error}"
        if status == "finished" and writer.n_done == 0 and conn_fails["n"] and conn_fails["n"] == writer.n_failed:
            # fewer items than the streak limit, and every one failed to connect: the endpoint is down
            status, error = "failed", (f"cannot reach {safe_url(judge.base_url)}: all {conn_fails['n']} items found "
                                       "nothing to connect to. Fix: start the server or correct base_url; rerun to "
                                       "resume.")
        elif status == "finished" and writer.n_done == 0 and writer.n_failed:
            # every item failed (for any reason): a CI job must see it
            first = first_failure[0] if first_failure else "unknown"
            status, error = "failed", (f"all {writer.n_failed} item(s) failed; the first: {first}")
        error = redact(error)
        result.status, result.error = status, error
        result.first_failure = redact(first_failure[0]) if first_failure else None
        result.n_done, result.n_failed = writer.n_done, writer.n_failed
        result.tokens_in, result.tokens_out = writer.tokens_in, writer.tokens_out
        result.cost_usd = writer.cost_usd
        counters = writer.counters()
        result.wall_s = counters["wall_s"]
        result.startup_s = t_start - t0
        result.request_s, result.retry_wait_s = caller.request_s, caller.wait_s
        timing = {"startup_s": round(result.startup_s, 3), "request_s": round(result.request_s, 3),
                  "retry_wait_s": round(result.retry_wait_s, 3)}
        finish_run(store, run_id, status, counters=counters, error=error, timing=timing)
        report()
    return result


def run_judge(store, judge: Judge, *, where: str | None = None, limit: int | None = None,
              concurrency: int | None = None, env: Mapping[str, str] | None = None,
              progress: Callable[[Progress], None] | None = None, backoff_base_s: float = 0.5) -> RunResult:
    """Run ``judge`` over the store's conversations and store every signal it yields.

    Resumable and idempotent: items (conversation x sample) already stored as answers for this config are not
    requested again; stored failures are retried. ``where`` is a SQL condition over the ``conversations`` table,
    ``limit`` keeps the first N selected conversations (in load order, so a repeated ``limit`` names the same
    ones), ``concurrency`` overrides the config. The API key is read from ``env`` (default ``os.environ``) now.

    Ctrl-C stops the run cleanly: finished items are kept and the result's ``status`` is ``"interrupted"``. An
    endpoint that refuses every request gives ``status == "failed"`` with ``error`` saying why.
    """
    env = os.environ if env is None else env
    return asyncio.run(run_judge_async(store, judge, where=where, limit=limit, concurrency=concurrency, env=env,
                                       progress=progress, backoff_base_s=backoff_base_s))

"""Judge runs through a provider's Batch API (OpenAI's ``/v1/files`` + ``/v1/batches``): submit, adopt, collect.

**Submit** (:func:`submit_batches`): the plan (the synchronous path's: stored answers and items already in a
batch are left out) is cut into submissions of at most ``batch_size`` requests and ``max_bytes`` of JSONL. Each
request is exactly what the synchronous path posts (same prompt, instructor's tools / response_format, same
config hash); its ``custom_id`` is the item key. For each submission, in this order: record it and its items
(``preparing``, committed) -> upload the JSONL -> record the file id -> create the batch with our submission id in
its ``metadata`` -> record the batch id (``submitted``). A process killed anywhere in between leaves a
``preparing`` submission; the next ``submit`` or ``collect`` first looks for a batch whose metadata carries that
submission id (``batches.list``, newest first) and adopts it, and only if there is none uploads and creates it.
Batch creation is never retried blindly (the SDK's retries are off for it).

**Collect** (:func:`collect_batches`): checks every open submission; a finished one (completed, expired, failed,
cancelled) has its output and error files read, every line validated against the response model exactly as a
synchronous reply is (:meth:`ItemCaller.interpret`), and in one transaction: answers and failures stored as
signals, the items' outcomes set, a re-submission recorded for what may succeed on another try (invalid replies
with instructor's re-ask messages, up to ``max_retries`` re-asks; 429/5xx, expired and missing lines up to
``max_retries`` re-submissions), the submission closed. The re-submission is then sent like any other. Killing
collection before that commit loses nothing: the next collect reads the same files again.

Cost uses ``price_*_per_1m_batch``, else half the synchronous prices (``Judge.batch_prices_estimated``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import AuditorError, ConfigError
from .._redact import make_redactor, safe_url
from . import _batch_store as bs
from ._call import ItemCaller, ItemResult, _short
from ._config import Judge, JudgeConfig
from ._prompt import PromptRenderer

__all__ = ["BatchRunResult", "CollectResult", "ProviderError", "submit_batches", "collect_batches", "judge_from_store"]

ENDPOINT = "/v1/chat/completions"
MAX_BATCH_BYTES = 190 * 1024 * 1024          # OpenAI accepts input files up to 200 MB
FINAL = ("completed", "expired", "failed", "cancelled")
_CUSTOM_ID = re.compile(r'"custom_id"\s*:\s*"((?:[^"\\]|\\.)*)"')


@dataclasses.dataclass
class BatchRunResult:
    """What ``judge run --batch`` submitted."""

    run_id: str | None
    rater_id: str
    config_hash: str
    status: str                       # submitted | nothing (everything stored or already in a batch)
    n_planned: int
    n_cached: int
    n_in_batches: int                 # items already waiting in earlier batches (not submitted again)
    n_submitted: int = 0
    n_failed: int = 0                 # items that failed before submission (their prompt did not render)
    batches: list[dict] = dataclasses.field(default_factory=list)     # submission id, batch id, items
    n_adopted: int = 0                # batches of an earlier, killed submission found and recorded

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class CollectResult:
    """What ``judge collect`` did."""

    n_checked: int = 0                # submissions looked at
    n_collected: int = 0              # finished batches whose results are now stored
    n_open: int = 0                   # submissions still waiting at the provider
    n_ok: int = 0
    n_failed: int = 0
    n_resubmitted: int = 0
    n_adopted: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    runs: dict = dataclasses.field(default_factory=dict)       # run id -> status after this collect
    statuses: dict = dataclasses.field(default_factory=dict)   # provider status -> submissions
    first_failure: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# -- the judge and the client -------------------------------------------------------------------------------
def judge_from_store(store, config_hash: str) -> Judge:
    """The judge a run used, rebuilt from what the store keeps (its config, prompt text and rubric); its hash is
    checked to be the stored one."""
    from ..rubric import rubric_from_spec

    rows = store.con.execute("SELECT j.spec::VARCHAR, j.prompt, j.base_url, r.spec::VARCHAR FROM judge_configs j "
                             "LEFT JOIN rubrics r ON r.rubric = j.rubric WHERE j.config_hash = ?",
                             [config_hash]).fetchall()
    if not rows or rows[0][3] is None:
        raise AuditorError(f"judge config {config_hash} is not in this store. Fix: pass --config CONFIG.")
    spec, prompt, base_url, rubric_spec = rows[0]
    rubric = rubric_from_spec(rubric_spec)
    fields = {k: v for k, v in json.loads(spec).items() if k in JudgeConfig.model_fields}
    cfg = JudgeConfig.model_validate({**fields, "base_url": base_url, "base_url_env": None})
    judge = Judge(config=cfg, path=Path(f"<stored config {config_hash}>"), prompt_path=Path("<stored prompt>"),
                  prompt_text=prompt, rubric=rubric, base_url=base_url)
    if judge.config_hash != config_hash:
        raise AuditorError(f"judge config {config_hash} cannot be rebuilt from the store (its base URL held a secret "
                           "or its rubric changed). Fix: pass the config file with --config CONFIG.")
    return judge


def _client(judge: Judge, api_key: str, timeout_s: float) -> Any:
    import openai

    return openai.OpenAI(base_url=judge.base_url, api_key=api_key, max_retries=2, timeout=timeout_s)


class ProviderError(AuditorError):
    """A Files/Batches API call failed. ``definitive``: the provider answered with a refusal (a 4xx other than
    408/409/429), so a batch it was asked to create does not exist; otherwise it may."""

    def __init__(self, message: str, *, definitive: bool):
        super().__init__(message)
        self.definitive = definitive


def _status_text(e: Any) -> str:
    """The provider's own words for an HTTP error (its ``error.message``), else the SDK's text."""
    body = getattr(e, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    msg = body.get("message") if isinstance(body, dict) else None
    if msg:
        return _short(Exception(str(msg)), 300).rstrip(".")
    return _short(e, 300)


def _api(judge: Judge, what: str, fn: Callable[[], Any], redact: Callable[[str], str], *,
         retry: str = "Fix: check the endpoint; `auditor judge collect` tries again (nothing recorded is submitted "
                      "twice).") -> Any:
    """Call the provider; its refusals and failures become one line saying what to do (``retry``: the fix of a
    failure that may pass on another try; empty when the caller words it)."""
    import openai

    try:
        return fn()
    except openai.APIStatusError as e:
        code = e.status_code
        definitive = 400 <= code < 500 and code not in (408, 409, 429)
        if code in (401, 403):
            fix = f"check the API key in ${judge.config.api_key_env}" if judge.config.api_key_env else \
                "check the API key (api_key_env)"
            raise ProviderError(redact(f"{safe_url(judge.base_url)} refused to {what} (HTTP {code}). Fix: {fix}."),
                                definitive=True) from None
        if code == 404 and what in ("upload the batch file", "create the batch", "list batches"):
            raise ProviderError(redact(f"{safe_url(judge.base_url)} has no Batch API (HTTP 404 when trying to {what})."
                                       " Fix: run without --batch, or use a provider that offers /v1/batches."),
                                definitive=True) from None
        raise ProviderError(redact(f"could not {what}: HTTP {code}: {_status_text(e)}. "
                                   + ("Fix: correct the request or the config." if definitive else retry)).strip(),
                            definitive=definitive) from None
    except (openai.APIConnectionError, openai.APITimeoutError) as e:
        raise ProviderError(redact(f"could not {what}: cannot reach {safe_url(judge.base_url)} ({_short(e, 200)}). "
                                   + retry).strip(), definitive=False) from None


class _Session:
    """One judge's requests and the provider calls of a submit or collect."""

    def __init__(self, store, judge: Judge, env: Mapping[str, str] | None, client: Any = None):
        self.store, self.judge = store, judge
        key = judge.api_key(env) if client is None else "no-key"
        self.redact = make_redactor(key, judge.base_url)
        self.client = client if client is not None else _client(judge, key, judge.config.timeout_s)
        self.renderer = PromptRenderer(judge.prompt_text, judge.rubric, judge.role, judge.prompt_path)
        self.caller = ItemCaller(judge, None, redact=self.redact)
        self.model = self.caller.response_model()

    def call(self, what: str, fn: Callable[[], Any], **kw) -> Any:
        return _api(self.judge, what, fn, self.redact, **kw)

    def body(self, conversation: dict, sample: int) -> dict:
        return self.caller.request_kwargs(self.renderer.render(conversation, sample))[1]

    # -- sending one recorded submission -------------------------------------------------------------------
    def send(self, sid: str, lines_file, run_id: str) -> str:
        """Upload and create a recorded submission (no batch of it exists: it is new, or ``find`` found none).
        A failed upload, or a refused create, cannot have created a batch: the submission is then dropped, so its
        items are planned again; after any other failure of create it stays, to be looked for and adopted."""
        lines_file.seek(0)
        try:
            f = self.call("upload the batch file", lambda: self.client.files.create(
                file=(f"auditor-{sid}.jsonl", lines_file, "application/jsonl"), purpose="batch"), retry="")
        except ProviderError:
            bs.discard(self.store, sid)
            raise
        bs.set_file(self.store, sid, f.id)
        return self.create(sid, f.id, run_id)

    def create(self, sid: str, file_id: str, run_id: str) -> str:
        meta = {"auditor_submission": sid, "auditor_run": run_id, "auditor_rater": self.judge.rater_id[:500]}
        try:
            b = self.call("create the batch", lambda: self.client.with_options(max_retries=0).batches.create(
                input_file_id=file_id, endpoint=ENDPOINT, completion_window="24h", metadata=meta), retry="")
        except ProviderError as e:
            if e.definitive:
                bs.discard(self.store, sid)
            raise
        bs.set_batch(self.store, sid, b.id, b.status)
        return b.id

    def find(self, sub: bs.Submission) -> Any | None:
        """The provider's batch created for this submission by a process that died before recording it."""
        def scan() -> Any | None:
            for b in self.client.batches.list(limit=100):
                if (b.metadata or {}).get("auditor_submission") == sub.submission_id:
                    return b
                if b.created_at < sub.created_s - 3600:       # older than the submission (an hour of clock skew)
                    return None
            return None
        return self.call("list batches", scan)

    def resume(self, sub: bs.Submission) -> tuple[str, bool]:
        """Send a ``preparing`` submission, or adopt the batch a killed process created for it: (batch id,
        adopted)."""
        found = self.find(sub)
        if found is not None:
            bs.set_batch(self.store, sub.submission_id, found.id, found.status)
            return found.id, True
        if sub.input_file_id is not None:
            return self.create(sub.submission_id, sub.input_file_id, sub.run_id), False
        items = bs.submission_items(self.store, sub.submission_id)
        with self.jsonl(items) as f:
            return self.send(sub.submission_id, f, sub.run_id), False

    def jsonl(self, items: list[bs.BatchItem]):
        """The submission's input file (a temporary file: bodies of re-asks as stored, others re-rendered)."""
        convs = _conversations(self.store, sorted({i.conversation_id for i in items if i.body is None}))
        f = tempfile.SpooledTemporaryFile(max_size=16 << 20, mode="w+b")
        for i in items:
            body = json.loads(i.body) if i.body is not None else self.body(convs[i.conversation_id], i.sample)
            f.write(_line(i.custom_id, body))
        return f


def _line(custom_id: str, body: dict) -> bytes:
    return (json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body},
                       ensure_ascii=False) + "\n").encode()


def _conversations(store, ids: list[str]) -> dict[str, dict]:
    if not ids:
        return {}
    rows = store.con.execute("SELECT conversation_id, task_id, user_kind, reward, n_turns, messages::VARCHAR, "
                             "metadata::VARCHAR FROM conversations WHERE list_contains(?, conversation_id)",
                             [ids]).fetchall()
    return {r[0]: {"id": r[0], "task_id": r[1], "user_kind": r[2], "reward": r[3], "n_turns": r[4],
                   "messages": r[5], "metadata": r[6]} for r in rows}


# -- submit ---------------------------------------------------------------------------------------------------
def submit_batches(store, judge: Judge, *, where: str | None = None, limit: int | None = None,
                   batch_size: int | None = None, env: Mapping[str, str] | None = None, client: Any = None,
                   max_bytes: int = MAX_BATCH_BYTES) -> BatchRunResult:
    """Submit the planned items of ``judge`` as provider batches and record them (see the module docstring)."""
    from ._records import finish_run, plan_items, save_judge, start_run, write_results
    from ._runner import _nothing_to_judge

    size = batch_size or judge.config.batch_size
    if size < 1:
        raise AuditorError(f"--batch-size {size}: must be >= 1")
    plan = plan_items(store, judge, samples=judge.config.samples, where=where, limit=limit)
    try:
        if plan.n_planned == 0:
            raise AuditorError(_nothing_to_judge(where, limit, plan.n_without_messages))
        ses = _Session(store, judge, env, client)
        res = BatchRunResult(None, judge.rater_id, judge.config_hash, "nothing", plan.n_planned, plan.n_cached,
                             plan.n_in_batches)
        for sub in bs.open_submissions(store, config_hash=judge.config_hash):
            if sub.state == "preparing":
                _, adopted = ses.resume(sub)
                res.n_adopted += adopted
        if plan.n_todo == 0:
            return res
        save_judge(store, judge)
        run_id = start_run(store, judge, plan, metadata={"where": where, "limit": limit, "mode": "batch",
                                                         "batch_size": size})
        res.run_id, res.status = run_id, "submitted"
        items = iter(plan.items)
        while True:
            chunk, f, n_bytes, failed = [], tempfile.SpooledTemporaryFile(max_size=16 << 20, mode="w+b"), 0, []
            for it in items:
                try:
                    line = _line(bs.custom_id_for(it.conversation_id, it.sample), ses.body(it.conversation, it.sample))
                except ConfigError as e:
                    failed.append(ItemResult(it.conversation_id, it.sample, "failed", error=f"prompt: {e}",
                                             replaces_failure=it.replaces_failure))
                    continue
                f.write(line)
                n_bytes += len(line)
                chunk.append(bs.BatchItem(bs.custom_id_for(it.conversation_id, it.sample), it.conversation_id,
                                          it.sample))
                if len(chunk) >= size or n_bytes >= max_bytes:
                    break
            if failed:
                write_results(store, judge, run_id, failed)
                res.n_failed += len(failed)
            if not chunk:
                f.close()
                break
            sid = bs.record_submission(store, run_id, judge.config_hash, chunk, attempt=1)
            try:
                batch_id = ses.send(sid, f, run_id)
            except ProviderError as e:
                _stop_submitting(store, judge, run_id, res, e)
            finally:
                f.close()
            res.n_submitted += len(chunk)
            res.batches.append({"submission_id": sid, "batch_id": batch_id, "items": len(chunk)})
        with store.transaction() as con:
            status = "submitted" if res.n_submitted else "failed"
            con.execute("UPDATE runs SET status = ?, metadata = json_merge_patch(coalesce(metadata, '{}'), ?) "
                        "WHERE run_id = ?", [status, json.dumps({"batches": len(res.batches)}), run_id])
        if not res.n_submitted:
            finish_run(store, run_id, "failed", counters=_counters(store, judge, run_id),
                       error=f"all {res.n_failed} item(s) failed before submission")
            res.status = "failed"
        return res
    finally:
        plan.close()


def _stop_submitting(store, judge: Judge, run_id: str, res: BatchRunResult, e: ProviderError) -> None:
    """A submission failed: record what was submitted, and say what happens to the rest."""
    from ._records import finish_run

    n_open = bs.run_batch_totals(store, run_id)["open"]
    if n_open:
        with store.transaction() as con:
            con.execute("UPDATE runs SET status = 'submitted', metadata = json_merge_patch(coalesce(metadata, '{}'), "
                        "?) WHERE run_id = ?", [json.dumps({"batches": n_open, "error": str(e)}), run_id])
    else:
        finish_run(store, run_id, "failed", counters=_counters(store, judge, run_id), error=str(e))
    done = (f" ({res.n_submitted} item(s) were submitted in {len(res.batches)} batch(es) before this)"
            if res.batches else "")
    raise ProviderError(send_fix(store, e, done), definitive=e.definitive) from None


def send_fix(store, e: ProviderError, done: str = "") -> str:
    """The message of a failed upload/create with what to do, which depends on whether its submission was kept
    (a batch may exist: it is looked for before anything is sent again) or dropped (its items are planned
    again)."""
    text = str(e).rstrip(".")
    if "Fix:" in text:
        return text + done + "."
    if e.definitive:
        return text + done + ". Fix: correct the config or the endpoint."
    if bs.open_submissions(store, preparing_only=True):
        return (f"{text}{done}. Fix: check the endpoint, then `auditor judge collect`: it looks for the batch the "
                "provider may have created before sending it again (nothing is submitted twice); `auditor judge run "
                "CONFIG --batch` submits what is not in a batch yet.")
    return (f"{text}{done}. Fix: check the endpoint, then run `auditor judge run CONFIG --batch` again (the items "
            "of this batch were not submitted and are planned again).")


def _counters(store, judge: Judge, run_id: str) -> dict:
    t = bs.run_batch_totals(store, run_id)
    n = store.con.execute("SELECT count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok) FROM (SELECT "
                          "bool_and(status <> 'failed') AS ok FROM signals WHERE run_id = ? GROUP BY conversation_id, "
                          "sample)", [run_id]).fetchall()[0]
    wall = store.con.execute("SELECT epoch(current_timestamp::TIMESTAMP) - epoch(started_at) FROM runs "
                             "WHERE run_id = ?", [run_id]).fetchall()
    return {"n_done": int(n[0]), "n_failed": int(n[1]), "tokens_in": t["tokens_in"], "tokens_out": t["tokens_out"],
            "cost_usd": judge.batch_cost_usd(t["tokens_in"], t["tokens_out"]),
            "wall_s": float(wall[0][0]) if wall else 0.0}


# -- collect --------------------------------------------------------------------------------------------------
def collect_batches(store, *, run: str | None = None, judge: Judge | None = None,
                    env: Mapping[str, str] | None = None, client: Any = None, wait: bool = False,
                    poll_s: float = 10.0, poll_max_s: float = 300.0, sleep: Callable[[float], None] = time.sleep,
                    progress: Callable[[CollectResult], None] | None = None) -> CollectResult:
    """Check open submissions (of one run, or all) and store the results of finished ones; with ``wait``, poll
    with backoff (``poll_s`` x 1.5 per round, at most ``poll_max_s``) until none is open."""
    from ._batch_collect import collect_round

    run_id = None
    if run is not None:
        from ._records import _resolve_run_id

        run_id = _resolve_run_id(store, run)
    res = CollectResult()
    sessions: dict[str, _Session] = {}

    def session(config_hash: str) -> _Session:
        if config_hash not in sessions:
            j = judge if judge is not None and judge.config_hash == config_hash else judge_from_store(store,
                                                                                                    config_hash)
            sessions[config_hash] = _Session(store, j, env, client)
        return sessions[config_hash]

    delay = poll_s
    while True:
        subs = bs.open_submissions(store, run_id=run_id)
        if not subs and res.n_checked == 0:
            where = f" of run {run_id}" if run_id else ""
            raise AuditorError(f"no batch is waiting to be collected{where}. Fix: `auditor judge list` shows runs; "
                               "`auditor judge run CONFIG --batch` submits one.")
        collect_round(store, subs, session, res)
        if progress is not None:
            progress(res)
        if not wait or res.n_open == 0:
            return res
        sleep(delay)
        delay = min(poll_max_s, delay * 1.5)

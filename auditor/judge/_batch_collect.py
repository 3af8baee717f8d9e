"""Collecting finished provider batches: read result lines, validate them as replies, store, re-submit.

One finished submission is collected in one transaction (:func:`collect_one`); what each result line means:

- HTTP 200 with a chat completion: validated exactly as a synchronous reply (:meth:`ItemCaller.interpret`):
  an answer, a failure (truncated, not a completion, invalid after ``max_retries`` re-asks) or a re-ask, which
  goes into the re-submission with instructor's correction messages;
- HTTP 408/409/429/5xx, ``batch_expired``, a missing or unreadable line: re-submitted, up to ``max_retries``
  times, then a failure that says so;
- any other HTTP status or error code: a failure with the provider's message;
- a batch the provider rejected (``failed``) or that was ``cancelled``: its items fail with that reason (a later
  run retries failed items, as after any failure).
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pyarrow as pa

from . import _batch_store as bs
from ._batch import FINAL, _CUSTOM_ID, CollectResult, ProviderError, _conversations, _counters, _Session, send_fix
from ._call import ItemResult

__all__ = ["collect_round", "collect_one"]

_TRANSIENT_CODES = {408, 409, 429}
_TRANSIENT_ERRORS = {"batch_expired", "batch_cancelled", "server_error", "rate_limit_exceeded", "timeout"}


def _completion(body: Any) -> Any:
    """A result line's body as the SDK's ``ChatCompletion`` (built leniently, as the SDK builds a reply), or its
    text when it is no chat completion."""
    from openai.types.chat import ChatCompletion

    if not isinstance(body, dict) or not body.get("choices"):
        return json.dumps(body) if not isinstance(body, str) else body
    try:
        return ChatCompletion.model_validate(body)
    except Exception:  # noqa: BLE001 - the SDK's own lenient construction, as for a synchronous reply
        from openai._models import construct_type

        return construct_type(value=body, type_=ChatCompletion)


def _message(obj: Any) -> str:
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if obj.get("message"):
            return str(obj["message"])
    return json.dumps(obj)[:300]


def _read_lines(texts: list[str]) -> tuple[dict[str, dict], dict[str, str], int]:
    """custom id -> result line; custom id -> the text of an unreadable line naming it; unreadable lines."""
    lines: dict[str, dict] = {}
    bad: dict[str, str] = {}
    n_bad = 0
    for text in texts:
        for raw in text.splitlines():
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                n_bad += 1
                m = _CUSTOM_ID.search(raw)
                if m:
                    bad[m.group(1)] = raw[:2000]
                continue
            cid = obj.get("custom_id") if isinstance(obj, dict) else None
            if cid is not None and cid not in lines:
                lines[cid] = obj
    return lines, bad, n_bad


def _batch_errors(b: Any) -> str:
    data = getattr(getattr(b, "errors", None), "data", None) or []
    parts = [f"{e.message} (line {e.line})" if getattr(e, "line", None) else str(e.message) for e in data[:3]]
    return "; ".join(parts) or "no reason given"


def collect_one(store, ses: _Session, sub: bs.Submission, b: Any, res: CollectResult) -> str | None:
    """Store a finished submission's results; returns the re-submission's id (recorded, not yet sent) or None."""
    from ._records import _update_counters, write_results

    judge, cfg = ses.judge, ses.judge.config
    texts = [ses.call("download the batch results", lambda fid=fid: ses.client.files.content(fid).text)
             for fid in (b.output_file_id, b.error_file_id) if fid]
    lines, bad, _ = _read_lines(texts)
    status = b.status
    final: list[ItemResult] = []
    again: list[bs.BatchItem] = []
    outcomes: dict[str, str] = {}
    tok_in = tok_out = 0
    conv_cache: dict[str, dict] = {}

    def request_of(it: bs.BatchItem) -> Callable[[], dict]:
        def build() -> dict:
            if it.body is not None:
                return json.loads(it.body)
            if it.conversation_id not in conv_cache:
                conv_cache.update(_conversations(store, [it.conversation_id]))
            return ses.body(conv_cache[it.conversation_id], it.sample)
        return build

    for it in bs.submission_items(store, sub.submission_id):
        r = ItemResult(it.conversation_id, it.sample, "failed", n_reasks=it.reasks, n_retries=it.retries)
        line = lines.get(it.custom_id)
        transient = reask = None
        if line is None:
            if it.custom_id in bad:
                transient = f"malformed result line (not JSON) in the output of batch {b.id}"
                r.raw = ses.redact(bad[it.custom_id])
            elif status == "failed":
                r.error = ses.redact(f"the provider rejected batch {b.id}: {_batch_errors(b)}")
            elif status == "cancelled":
                r.error = f"batch {b.id} was cancelled before this item ran"
            else:
                transient = f"no result line for this item in batch {b.id} ({status})"
        else:
            resp, err = line.get("response"), line.get("error")
            code = resp.get("status_code") if isinstance(resp, dict) else None
            if code == 200:
                reask = ses.caller.interpret(r, _completion(resp.get("body")), ses.model, request_of(it))
            elif code is not None:
                msg = ses.redact(f"HTTP {code}: {_message(resp.get('body'))}")
                if code in _TRANSIENT_CODES or code >= 500:
                    transient = msg
                else:
                    r.error = f"{msg} (the provider rejected the request)"
                    r.raw = ses.redact(json.dumps(resp.get("body"))[:2000])
            elif isinstance(err, dict):
                msg = ses.redact(f"{err.get('code')}: {err.get('message')}")
                if err.get("code") in _TRANSIENT_ERRORS:
                    transient = msg
                else:
                    r.error = msg
            else:
                transient = "a result line with neither a response nor an error"
        tok_in, tok_out = tok_in + r.tokens_in, tok_out + r.tokens_out
        if reask is not None:
            again.append(bs.BatchItem(it.custom_id, it.conversation_id, it.sample, r.n_reasks, it.retries,
                                      json.dumps(reask, ensure_ascii=False)))
            outcomes[it.custom_id] = "resubmitted"
            continue
        if transient is not None:
            if it.retries < cfg.max_retries:
                again.append(bs.BatchItem(it.custom_id, it.conversation_id, it.sample, it.reasks, it.retries + 1,
                                          it.body))
                outcomes[it.custom_id] = "resubmitted"
                continue
            r.error = (f"{transient} (gave up after {it.retries} re-submission{'' if it.retries == 1 else 's'}; "
                       f"max_retries={cfg.max_retries})")
        outcomes[it.custom_id] = r.status
        final.append(r)

    with store.transaction() as con:
        # registered, not read by replacement scan: the DELETE runs in Store.delete_signals, another frame
        con.register("_auditor_done", pa.Table.from_pydict({
            "conversation_id": [r.conversation_id for r in final], "sample": [r.sample for r in final]},
            schema=pa.schema([("conversation_id", pa.string()), ("sample", pa.int32())])))
        try:
            answered = {(c, s) for c, s in con.execute(
                "SELECT DISTINCT s.conversation_id, s.sample FROM signals s JOIN _auditor_done d USING "
                "(conversation_id, sample) WHERE s.rater_id = ? AND s.status <> 'failed'", [judge.rater_id]).fetchall()}
            store.delete_signals("s.rater_id = ? AND s.status = 'failed' AND s.conversation_id = d.conversation_id "
                                 "AND s.sample = d.sample", [judge.rater_id], using="USING _auditor_done d")
        finally:
            con.unregister("_auditor_done")
        write_results(store, judge, sub.run_id, [r for r in final if (r.conversation_id, r.sample) not in answered])
        new_sid = (bs.record_submission(store, sub.run_id, sub.config_hash, again, attempt=sub.attempt + 1)
                   if again else None)
        bs.mark_collected(store, sub, outcomes, output_file_id=b.output_file_id, error_file_id=b.error_file_id,
                          provider_status=status, tokens_in=tok_in, tokens_out=tok_out,
                          note={"resubmission": new_sid} if new_sid else None)
        _update_counters(store, sub.run_id, _counters(store, judge, sub.run_id))
    res.n_collected += 1
    res.n_ok += sum(r.status == "ok" for r in final)
    failed = [r for r in final if r.status != "ok"]
    res.n_failed += len(failed)
    res.n_resubmitted += len(again)
    res.tokens_in, res.tokens_out = res.tokens_in + tok_in, res.tokens_out + tok_out
    if failed and res.first_failure is None:
        res.first_failure = failed[0].error
    return new_sid


def _close_run(store, judge, run_id: str, res: CollectResult) -> None:
    from ._records import finish_run

    if bs.run_batch_totals(store, run_id)["open"]:
        res.runs[run_id] = "submitted"
        return
    c = _counters(store, judge, run_id)
    status, error = "finished", None
    if c["n_done"] == 0 and c["n_failed"]:
        first = store.con.execute("SELECT min(error) FROM signals WHERE run_id = ? AND status = 'failed'",
                                  [run_id]).fetchall()[0][0]
        status, error = "failed", f"all {c['n_failed']} item(s) failed; the first: {first}"
    finish_run(store, run_id, status, counters=c, error=error,
               timing={"cost_estimated": judge.batch_prices_estimated and judge.prices_known})
    res.runs[run_id] = status


def collect_round(store, subs: list[bs.Submission], session: Callable[[str], _Session], res: CollectResult) -> None:
    """One look at each open submission: send what was never sent, collect what has finished."""
    res.n_open, res.statuses = 0, {}
    touched: dict[str, Any] = {}
    for sub in subs:
        ses = session(sub.config_hash)
        res.n_checked += 1
        if sub.state == "preparing":
            try:
                sub.batch_id, adopted = ses.resume(sub)
            except ProviderError as e:
                raise ProviderError(send_fix(store, e), definitive=e.definitive) from None
            res.n_adopted += adopted
        b = ses.call("check the batch", lambda: ses.client.batches.retrieve(sub.batch_id))
        res.statuses[b.status] = res.statuses.get(b.status, 0) + 1
        if b.status not in FINAL:
            bs.set_status(store, sub.submission_id, b.status)
            res.n_open += 1
            res.runs.setdefault(sub.run_id, "submitted")
            continue
        new_sid = collect_one(store, ses, sub, b, res)
        touched[sub.run_id] = ses.judge
        if new_sid is not None:
            try:
                with ses.jsonl(bs.submission_items(store, new_sid)) as f:
                    ses.send(new_sid, f, sub.run_id)
            except ProviderError as e:
                raise ProviderError(send_fix(store, e, " (while re-submitting; the results of the finished batch are "
                                             "stored)"),
                                    definitive=e.definitive) from None
            res.n_open += 1
    for run_id, judge in touched.items():
        _close_run(store, judge, run_id, res)

"""``create_campaign``: pick the conversations, assign annotators, mint tokens, record it all in one transaction."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from ..errors import AuditorError
from ..store import Store, register_rubric
from ..store._campaigns import insert_campaign
from ..store._store import check_read_only
from ._design import assign, draw_sample
from ._tokens import hash_token, new_token

__all__ = ["CreatedCampaign", "create_campaign", "STRATIFY_BY"]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STRATIFY_BY = ("system", "task", "llm_score", "metadata.KEY")
LLM_KINDS = ("judge", "simulator")


@dataclass
class CreatedCampaign:
    """What ``create_campaign`` made. The tokens exist only here: the store keeps their hashes."""

    campaign: str
    rubric: str
    n_items: int
    population: int
    strategy: str
    annotators: dict[str, str]                 # name -> private token
    admin_token: str
    loads: dict[str, int] = field(default_factory=dict)
    design: dict = field(default_factory=dict)

    def links(self, base_url: str) -> dict:
        """The ``--json`` shape: campaign, items, one private link per annotator, the admin link."""
        base = base_url.rstrip("/")
        return {"campaign": self.campaign, "items": self.n_items,
                "annotators": [{"name": a, "url": f"{base}/a/{t}", "token": t} for a, t in self.annotators.items()],
                "admin_url": f"{base}/campaigns/{self.campaign}?token={self.admin_token}"}


def _parse_annotators(annotators: list[str] | str) -> list[str]:
    if isinstance(annotators, str):
        annotators = annotators.split(",")
    names = [a.strip() for a in annotators]
    if not names or any(not a for a in names):
        raise AuditorError("--annotators needs a comma-separated list of names, e.g. --annotators alice,bob,carol "
                           "(an empty name was given).")
    dupes = sorted({a for a in names if names.count(a) > 1})
    if dupes:
        raise AuditorError(f"--annotators lists {', '.join(map(repr, dupes))} more than once. Fix: give each "
                           "annotator once.")
    bad = [a for a in names if len(a) > 64 or any(ord(ch) < 32 for ch in a)]
    if bad:
        raise AuditorError(f"annotator name {bad[0][:70]!r} is too long or has control characters. Fix: use a short "
                           "name (≤ 64 characters).")
    return names


def _population(store: Store, where: str | None) -> pd.DataFrame:
    base = "SELECT conversation_id, task_id FROM conversations WHERE messages IS NOT NULL"
    query = base if not where else f"{base} AND ({where})"
    if where:
        try:
            statements = duckdb.extract_statements(query)
        except duckdb.Error as e:
            raise AuditorError(f"--where {where!r} is not a valid SQL condition: {str(e).splitlines()[0]}. Fix: "
                               "write a condition on the conversations table, e.g. --where \"task_id LIKE 'airline%'\""
                               ".") from None
        if len(statements) != 1:
            raise AuditorError(f"--where {where!r} must be one condition, not several statements.")
        check_read_only(query)
    try:
        return store.con.execute(query + " ORDER BY conversation_id").fetchdf()
    except duckdb.Error as e:
        raise AuditorError(f"--where {where!r} failed: {str(e).splitlines()[0]}. Fix: use columns of the "
                           "conversations table (conversation_id, task_id, user_kind, n_turns, reward, metadata, "
                           "...).") from None


def _strata(store: Store, pop: pd.DataFrame, by: str, rubric, dimension: str | None) -> list[str | None]:
    if by == "task":
        return [None if pd.isna(t) else str(t) for t in pop["task_id"]]
    if by == "system" or by.startswith("metadata."):
        key = "system_id" if by == "system" else by[len("metadata."):]
        path = '$."' + key.replace('"', '\\"') + '"'
        expr = "system_id" if by == "system" else "json_extract_string(metadata, ?)"
        vals = dict(store.con.execute(
            f"SELECT conversation_id, {expr} FROM conversations WHERE conversation_id = ANY(?)",
            ([] if by == "system" else [path]) + [pop["conversation_id"].tolist()]).fetchall())
        out = [vals.get(c) for c in pop["conversation_id"]]
        if all(v is None for v in out):
            what = "a system_id" if by == "system" else f"metadata key {key!r}"
            raise AuditorError(f"--stratify-by {by}: no conversation in the population has {what}. "
                               "Fix: load conversations with a system_id column, or use --stratify-by task, llm_score "
                               "or metadata.KEY with a key the conversations carry.")
        return out
    if by == "llm_score":
        dim = dimension or rubric.dimensions[0].name
        if dim not in rubric.dimension_names:
            raise AuditorError(f"--stratify-dimension {dim!r} is not a dimension of rubric {rubric.name!r}. Fix: use "
                               f"one of {', '.join(rubric.dimension_names)}.")
        df = store.con.execute(
            "SELECT s.conversation_id, round(avg(s.value))::BIGINT AS score FROM signals s JOIN raters r USING "
            "(rater_id) WHERE r.kind IN ('judge', 'simulator') AND s.status = 'ok' AND s.rubric = ? AND "
            "s.dimension = ? GROUP BY 1", [rubric.name, dim]).fetchdf()
        if df.empty:
            raise AuditorError(f"--stratify-by llm_score: no LLM rater has scored dimension {dim!r} of rubric "
                               f"{rubric.name!r}. Fix: run a judge first, or stratify by task or metadata.KEY.")
        score = dict(zip(df["conversation_id"], df["score"]))
        return [None if c not in score else f"{dim}={score[c]}" for c in pop["conversation_id"]]
    raise AuditorError(f"unknown --stratify-by {by!r}. Fix: use one of {', '.join(STRATIFY_BY)}.")


def _disagreements(store: Store, rubric, rater: str, top: int, where: str | None) -> tuple[pd.DataFrame, int]:
    """The ``top`` conversations where ``rater`` departs most from the human consensus (mean over the rubric's
    dimensions of |LLM - mean human| / option range), among those both rated; and how many both rated."""
    kind = store.con.execute("SELECT kind FROM raters WHERE rater_id = ?", [rater]).fetchall()
    if not kind or kind[0][0] == "human":
        llm = [r[0] for r in store.con.execute("SELECT rater_id FROM raters WHERE kind <> 'human' ORDER BY 1")
               .fetchall()]
        raise AuditorError(f"--from-disagreements {rater!r} is not an LLM rater in this store. Fix: use one of "
                           f"{', '.join(llm) or '(none: ingest or run a judge first)'}.")
    pop = _population(store, where)
    df = store.con.execute(
        """WITH v AS (SELECT s.conversation_id, s.dimension, r.kind = 'human' AS is_human, avg(s.value) AS value
                      FROM signals s JOIN raters r USING (rater_id)
                      WHERE s.rubric = ? AND s.status = 'ok' AND s.value IS NOT NULL
                        AND (s.rater_id = ? OR r.kind = 'human') GROUP BY ALL),
                d AS (SELECT l.conversation_id, abs(l.value - h.value) / nullif(dm.value_max - dm.value_min, 0) AS gap
                      FROM v l JOIN v h ON h.conversation_id = l.conversation_id AND h.dimension = l.dimension
                      JOIN dimensions dm ON dm.rubric = ? AND dm.dimension = l.dimension
                      WHERE NOT l.is_human AND h.is_human)
           SELECT conversation_id, avg(gap) AS disagreement FROM d WHERE conversation_id = ANY(?) GROUP BY 1
           ORDER BY disagreement DESC, conversation_id""",
        [rubric.name, rater, rubric.name, pop["conversation_id"].tolist()]).fetchdf()
    if df.empty:
        raise AuditorError(f"--from-disagreements {rater!r}: no conversation has both its ratings and human ratings "
                           f"on rubric {rubric.name!r}. Fix: relabelling queues need a judge and earlier human "
                           "labels; use --sample for a first round.")
    return df.head(top), len(df)


def _check_annotators(store: Store, names: list[str], rubric: str, conversations: list[str]) -> None:
    kinds = dict(store.con.execute("SELECT rater_id, kind FROM raters WHERE rater_id = ANY(?)", [names]).fetchall())
    llm = [n for n, k in kinds.items() if k != "human"]
    if llm:
        raise AuditorError(f"annotator name {llm[0]!r} is already a {kinds[llm[0]]} rater in this store. Fix: give "
                           "the person another name.")
    seen = store.con.execute(
        "SELECT rater_id, count(DISTINCT conversation_id) FROM signals WHERE rater_id = ANY(?) AND rubric = ? AND "
        "conversation_id = ANY(?) GROUP BY 1 ORDER BY 1", [names, rubric, conversations]).fetchall()
    if seen:
        who, n = seen[0]
        raise AuditorError(f"annotator {who!r} already has ratings on rubric {rubric!r} for {n} of the selected "
                           "conversations. Fix: leave them out with --where (e.g. \"conversation_id NOT IN (SELECT "
                           f"conversation_id FROM signals WHERE rater_id = '{who}')\"), or use another name.")


def create_campaign(store: Store, name: str, *, rubric: str, annotators: list[str] | str, overlap: int = 2,
                    sample: int | None = None, strategy: str | None = None, stratify_by: str | None = None,
                    stratify_dimension: str | None = None, where: str | None = None, seed: int = 0,
                    from_disagreements: str | None = None, top: int | None = None) -> CreatedCampaign:
    """Create a campaign: draw items by the design, give each to ``overlap`` annotators, mint private tokens.

    ``strategy`` defaults to ``random`` when ``sample`` is given, else ``all`` (``stratified`` when only
    ``stratify_by`` is given). Every item records its inclusion probability under the design.
    ``from_disagreements=RATER, top=N`` instead makes a relabelling queue: the N conversations where that LLM rater
    departs most from the humans. That is not a probability sample: its items have no inclusion probability, and
    the audit refuses corrected estimates from its labels and flags agreement that includes them.
    """
    if not NAME_RE.match(name or ""):
        raise AuditorError(f"campaign name {name!r} is not usable. Fix: 1-64 letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit.")
    names = _parse_annotators(annotators)
    rub = store.rubric(rubric)
    if from_disagreements is not None:
        if sample is not None or strategy not in (None, "disagreement") or stratify_by:
            raise AuditorError("--from-disagreements picks the items itself: drop --sample, --strategy and "
                               "--stratify-by (use --top N for how many).")
        if not top or top < 1:
            raise AuditorError("--from-disagreements needs --top N (how many conversations to relabel).")
        picked, n_pairs = _disagreements(store, rub, from_disagreements, top, where)
        items = pd.DataFrame({"item_id": np.arange(len(picked), dtype=np.int32),
                              "conversation_id": picked["conversation_id"].to_numpy(),
                              "inclusion_prob": np.full(len(picked), np.nan), "stratum": [None] * len(picked)})
        strategy, population = "disagreement", n_pairs
        design = {"strategy": "disagreement", "probability_sample": False, "rater": from_disagreements,
                  "top": int(top), "population": n_pairs,
                  "rule": "largest mean |LLM - human consensus| over the rubric's dimensions, rescaled by the option "
                          "range",
                  "smallest_disagreement_taken": float(picked["disagreement"].min())}
    else:
        if top is not None:
            raise AuditorError("--top goes with --from-disagreements RATER.")
        strategy = strategy or ("stratified" if stratify_by else "random" if sample is not None else "all")
        if strategy == "disagreement":
            raise AuditorError("--strategy disagreement is made with --from-disagreements RATER --top N.")
        if strategy == "all" and sample is not None:
            raise AuditorError("--sample goes with --strategy random or stratified (all takes every conversation). "
                               "Fix: add --strategy random, or drop --sample.")
        if stratify_by and strategy != "stratified":
            raise AuditorError(f"--stratify-by goes with --strategy stratified (got --strategy {strategy}).")
        pop = _population(store, where)
        strata = (_strata(store, pop, stratify_by, rub, stratify_dimension)
                  if strategy == "stratified" and stratify_by else None)
        drawn = draw_sample(len(pop), strategy=strategy, n=sample, seed=seed, strata=strata)
        items = pd.DataFrame({"item_id": np.arange(len(drawn.index), dtype=np.int32),
                              "conversation_id": pop["conversation_id"].to_numpy()[drawn.index],
                              "inclusion_prob": drawn.inclusion_prob, "stratum": drawn.stratum})
        population, design = len(pop), drawn.design
    queues = assign(len(items), names, overlap, seed)
    _check_annotators(store, names, rub.name, items["conversation_id"].tolist())
    tokens = {a: new_token() for a in names}
    admin = new_token()
    record = {"campaign": name, "rubric": rub.name, "strategy": strategy, "stratify_by": stratify_by,
              "where_sql": where, "overlap": overlap, "seed": seed, "population_n": population,
              "n_items": len(items), "admin_token_hash": hash_token(admin),
              "batch_id": f"campaign-{name}-{uuid.uuid4().hex[:6]}", "design": design}
    with store.transaction():
        register_rubric(store, rub, source=str(rubric))
        insert_campaign(store, campaign=record, items=items, queues=queues,
                        token_hashes={a: hash_token(t) for a, t in tokens.items()})
    return CreatedCampaign(name, rub.name, len(items), population, strategy, tokens, admin,
                           {a: len(q) for a, q in queues.items()}, design)

"""The wrong-usage corpus: flags, configs, stores, files and endpoints a newcomer gets wrong (issue 17).

Every :class:`Mistake` is one command line that must fail: a non-zero exit, exactly one line on stderr that names what
was wrong and what to do (``says``: words it must contain), no traceback, and the store it ran against unchanged.
Arguments may hold ``{db}`` (the shared populated store), ``{dir}`` (the case's own folder) and ``{url}`` (an
OpenAI-compatible endpoint nobody listens on). ``files`` are written into ``{dir}`` first. Signal files with bad
contents are the other corpus (``_bad_inputs.py``); this one is about everything around them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import yaml

__all__ = ["Mistake", "MISTAKES", "GOOD_SIGNALS", "judge_config"]

GOOD_SIGNALS = "conversation_id,dimension,rater_id,rater_kind,label\nc1,score,ann,human,4\nc2,score,ann,human,5\n"
TEMPLATE = "Rate {{ conversation.id }}:\n{{ transcript }}\n{% for d in dimensions %}{{ d.name }}{% endfor %}\n"


def judge_config(**fields) -> str:
    """A judge config (YAML text) for the llm_rubric rubric; ``None`` drops a field."""
    cfg = {"name": "j-test", "model": "fake-model", "base_url": "{url}", "rubric": "llm_rubric",
           "prompt": "t.j2", "role": "judge", "mode": "tools", "timeout_s": 2, "max_retries": 0}
    cfg.update(fields)
    return yaml.safe_dump({k: v for k, v in cfg.items() if v is not None}, sort_keys=False)


def rubric(**dims) -> str:
    spec = {"name": "mine", "version": "1", "dimensions": [
        {"name": "score", "question": "How good?", "level": "ordinal",
         "options": [{"label": str(v), "value": v} for v in range(1, 6)]}]}
    spec.update(dims)
    return yaml.safe_dump(spec, sort_keys=False)


@dataclass(frozen=True)
class Mistake:
    id: str
    args: tuple[str, ...]
    says: tuple[str, ...]                         # words the one line must contain (what, and the fix)
    files: dict = field(default_factory=dict)     # name -> text (bytes for binary), written into {dir}
    code: int | None = None                       # the exit code, when it is a specific one
    writes: bool = False                          # the store may change (a judge run records its failed items)


def M(id, args, *says, files=None, code=None, writes=False) -> Mistake:
    return Mistake(id, tuple(args.split()) if isinstance(args, str) else tuple(args), tuple(says), files or {}, code,
                   writes)


J = {"t.j2": TEMPLATE}
CONV = [{"conversation_id": "n1", "messages": [{"role": "user", "content": "hi"}]}]

MISTAKES: list[Mistake] = [
    # --- the command line itself
    M("unknown_command", "--db {db} audti", "No such command", "Did you mean 'audit'", "-h", code=2),
    M("unknown_option_audit", "--db {db} audit --bogus", "No such option: --bogus", "auditor audit -h", code=2),
    M("unknown_option_compare", "--db {db} compare --bogus", "No such option", "auditor compare -h", code=2),
    M("compare_sort_unknown", "--db {db} compare --sort bogus", "bogus", "alpha"),
    M("unknown_option_report", "--db {db} report --format pdf", "No such option", "auditor report -h", code=2),
    M("unknown_option_sql", "--db {db} sql --limit 3 x", "No such option", "auditor sql -h", code=2),
    M("extra_argument", "--db {db} audit extra", "No such command 'extra'", "-h", code=2),
    M("db_without_value", "audit --db", "--db", "requires an argument", "Fix", code=2),
    M("wait_not_a_number", "--wait soon --db {db} audit", "--wait", "-h", code=2),
    M("wait_negative", "--wait -1 --db {db} audit", "--wait", "-h", code=2),
    M("bootstrap_not_a_number", "--db {db} audit --bootstrap many", "--bootstrap", "-h", code=2),
    M("bootstrap_negative", "--db {db} audit --bootstrap -5", "--bootstrap", "-h", code=2),
    M("seed_not_a_number", "--db {db} audit --seed x", "--seed", "-h", code=2),
    M("json_and_csv", "--db {db} audit --json --csv", "--json and --csv", "choose one", code=2),
    M("missing_argument", "--db {db} ingest signals", "Missing argument", "auditor ingest signals -h", code=2),
    # --- stores
    M("db_is_a_directory", "--db {dir} audit", "is a directory", "--db"),
    M("db_is_a_text_file", "--db {dir}/notes.txt audit", "not a DuckDB", "--db", files={"notes.txt": "hello\n"}),
    M("db_is_garbage", "--db {dir}/x.duckdb audit", "not a DuckDB", "--db", files={"x.duckdb": b"\x00\x01" * 3000}),
    M("db_in_missing_folder", "--db {dir}/no/such/x.duckdb audit", "no/such", "Fix"),
    M("db_missing_for_reading", "--db {dir}/nothing.duckdb audit", "no store here", "auditor demo"),
    M("db_missing_for_sql", ["--db", "{dir}/nothing.duckdb", "sql", "SELECT 1"], "no store here", "auditor demo"),
    M("db_missing_for_report", "--db {dir}/nothing.duckdb report", "no store here", "auditor demo"),
    M("db_missing_for_compare", "--db {dir}/nothing.duckdb compare", "no store here", "auditor demo"),
    M("db_is_a_parquet_file", "--db {dir}/s.parquet audit", "not a DuckDB", "--db",
      files={"s.parquet": b"PAR1" + b"\x00" * 100 + b"PAR1"}),
    # --- audit filters and gates
    M("audit_unknown_dimension", "--db {db} audit --dimension helpful", "helpful", "Q0"),
    M("audit_unknown_statistic", "--db {db} audit --statistic alpha", "alpha", "krippendorff_alpha"),
    M("audit_unknown_rater", "--db {db} audit --llm nobody", "nobody", "j1"),
    M("audit_unknown_rubric", "--db {db} audit --rubric nope", "nope", "llm_rubric"),
    M("audit_level_bogus", "--db {db} audit --level bogus", "--level", "conversation, system or all"),
    M("audit_failed_bogus", "--db {db} audit --failed maybe", "--failed", "drop", "wrong"),
    M("gate_not_a_number", "--db {db} audit --fail-under krippendorff_alpha=high", "high", "number"),
    M("gate_without_value", "--db {db} audit --fail-under krippendorff_alpha", "STATISTIC=VALUE", "e.g."),
    M("gate_unknown_statistic", "--db {db} audit --fail-under alpha=0.5", "alpha", "krippendorff_alpha"),
    M("audit_system_level_without_systems", "--db {db} audit --level system", "system", "system_id"),
    M("history_unknown_statistic", "--db {db} audit history --statistic alpha", "alpha", "Fix"),
    # --- compare and report
    M("compare_unknown_dimension", "--db {db} compare --dimension helpful", "helpful", "Q0"),
    M("compare_unknown_rater", "--db {db} compare --llm nobody", "nobody", "j1"),
    M("report_unknown_dimension", "--db {db} report --dimension helpful --out {dir}/r.html", "helpful", "Q0"),
    M("report_empty_out", ["--db", "{db}", "report", "--out", ""], "--out", "file name"),
    M("report_out_under_a_file", "--db {db} report --out {dir}/f.txt/r.html", "f.txt", "not a folder",
      files={"f.txt": "x"}),
    M("report_out_unknown_suffix", "--db {db} report --out {dir}/r.pdf", ".pdf", ".html"),
    # --- sql and export
    M("sql_delete", ["--db", "{db}", "sql", "DELETE FROM signals"], "read-only", "DELETE", "Fix"),
    M("sql_syntax", ["--db", "{db}", "sql", "SELEC 1"], "syntax error", "Fix"),
    M("sql_unknown_table", ["--db", "{db}", "sql", "SELECT * FROM nope"], "nope", "tables"),
    M("sql_unknown_column", ["--db", "{db}", "sql", "SELECT nope FROM signals"], "nope", "Fix"),
    M("sql_empty", ["--db", "{db}", "sql", ""], "empty", "Fix"),
    M("sql_two_statements_one_writes", ["--db", "{db}", "sql", "SELECT 1; DROP TABLE signals"], "refused", "Fix"),
    M("sql_copy", ["--db", "{db}", "sql", "COPY signals TO 'x.csv'"], "export"),
    M("sql_attach", ["--db", "{db}", "sql", "ATTACH '{dir}/other.duckdb'"], "refused", "Fix"),
    M("sql_read_file", ["--db", "{db}", "sql", "SELECT * FROM read_text('/etc/passwd')"], "refused", "Fix"),
    M("sql_install", ["--db", "{db}", "sql", "INSTALL httpfs"], "refused", "Fix"),
    M("sql_set", ["--db", "{db}", "sql", "SET threads = 1"], "refused", "Fix"),
    M("sql_explain_analyze_delete", ["--db", "{db}", "sql", "EXPLAIN ANALYZE DELETE FROM signals"], "refused"),
    M("sql_nextval", ["--db", "{db}", "sql", "SELECT nextval('x')"], "Fix"),
    M("export_unknown_table", "--db {db} export nope --to {dir}/x.parquet", "nope", "Fix"),
    M("export_unknown_format", "--db {db} export signals --to {dir}/x.xlsx", ".xlsx", ".parquet"),
    M("export_without_to", "--db {db} export signals", "--to", "-h", code=2),
    M("export_write_query", ["--db", "{db}", "export", "--query", "DELETE FROM signals", "--to", "{dir}/x.csv"],
      "refused", "Fix"),
    M("export_into_missing_folder", "--db {db} export signals --to {dir}/no/x.csv", "no", "Fix"),
    M("export_table_and_query", ["--db", "{db}", "export", "signals", "--query", "SELECT 1", "--to", "{dir}/x.csv"],
      "one of them", "Fix"),
    # --- ingest: files and flags around the signal files
    M("ingest_missing_file", "--db {db} ingest signals {dir}/none.csv --rubric likert5", "none.csv", "Fix"),
    M("ingest_unknown_rubric", "--db {db} ingest signals {dir}/ok.csv --rubric nope", "nope", "likert5",
      files={"ok.csv": GOOD_SIGNALS}),
    M("ingest_rubric_file_missing", "--db {db} ingest signals {dir}/ok.csv --rubric {dir}/r.yaml", "r.yaml", "Fix",
      files={"ok.csv": GOOD_SIGNALS}),
    M("ingest_bad_rater_kind", "--db {db} ingest signals {dir}/ok.csv --rubric likert5 --rater-kind robot",
      "robot", "human", files={"ok.csv": GOOD_SIGNALS}),
    M("ingest_bad_score", "--db {db} ingest signals {dir}/ok.csv --rubric likert5 --score mode", "mode",
      "expected", files={"ok.csv": GOOD_SIGNALS}),
    M("ingest_map_without_equals", "--db {db} ingest signals {dir}/ok.csv --rubric likert5 --map label",
      "--map", "SOURCE=", files={"ok.csv": GOOD_SIGNALS}),
    M("ingest_unknown_format", "--db {db} ingest signals {dir}/ok.xlsx --rubric likert5", ".xlsx", "csv",
      files={"ok.xlsx": b"PK\x03\x04" + b"\x00" * 200}),
    M("conversations_missing_file", "--db {db} ingest conversations {dir}/none.jsonl", "none.jsonl", "Fix"),
    M("conversations_directory", "--db {db} ingest conversations {dir}", "directory", "Fix"),
    M("conversations_empty", "--db {db} ingest conversations {dir}/e.jsonl", "e.jsonl", "empty",
      files={"e.jsonl": ""}),
    M("conversations_bad_json_line", "--db {db} ingest conversations {dir}/c.jsonl", "line 2", "JSON",
      files={"c.jsonl": json.dumps(CONV[0]) + "\n{not json\n"}),
    M("conversations_number", "--db {db} ingest conversations {dir}/c.json", "c.json", "Fix",
      files={"c.json": "42"}),
    M("conversations_messages_not_a_list", "--db {db} ingest conversations {dir}/c.jsonl", "messages", "list",
      files={"c.jsonl": json.dumps({"conversation_id": "n1", "messages": "hi"}) + "\n"}),
    M("conversations_unknown_role", "--db {db} ingest conversations {dir}/c.jsonl", "customer", "user",
      files={"c.jsonl": json.dumps({"conversation_id": "n1", "messages": [{"role": "customer", "content": "hi"}]})
             + "\n"}),
    M("conversations_without_id", "--db {db} ingest conversations {dir}/c.jsonl", "conversation_id", "Fix",
      files={"c.jsonl": json.dumps({"messages": CONV[0]["messages"]}) + "\n"}),
    M("conversations_binary", "--db {db} ingest conversations {dir}/c.jsonl", "c.jsonl", "Fix",
      files={"c.jsonl": bytes(range(256)) * 4}),
    M("tau_bench_without_domain", "--db {db} ingest tau-bench {dir}/results.json", "--domain", "Fix",
      files={"results.json": json.dumps([{"task_id": 1, "reward": 1.0, "info": {}, "traj": [], "trial": 0}])}),
    M("tau_bench_not_a_list", "--db {db} ingest tau-bench {dir}/r.json --domain airline", "r.json", "Fix",
      files={"r.json": json.dumps({"task_id": 1})}),
    M("tau_bench_bad_json", "--db {db} ingest tau-bench {dir}/r.json --domain airline", "r.json", "JSON",
      files={"r.json": "[{"}),
    M("tau_bench_missing_file", "--db {db} ingest tau-bench {dir}/r.json --domain airline", "r.json", "Fix"),
    # --- rubrics
    M("rubrics_show_unknown", "--db {db} rubrics show nope", "nope", "rubrics list"),
    M("rubrics_validate_missing", "--db {db} rubrics validate {dir}/r.yaml", "r.yaml", "Fix"),
    M("rubric_without_dimensions", "--db {db} rubrics validate {dir}/r.yaml", "dimensions", "Fix",
      files={"r.yaml": "name: mine\nversion: '1'\n"}),
    M("rubric_is_a_list", "--db {db} rubrics validate {dir}/r.yaml", "r.yaml", "Fix", files={"r.yaml": "- a\n- b\n"}),
    M("rubric_duplicate_labels", "--db {db} rubrics validate {dir}/r.yaml", "r.yaml", "Fix",
      files={"r.yaml": rubric(dimensions=[{"name": "score", "question": "q", "level": "ordinal", "options": [
          {"label": "a", "value": 1}, {"label": "a", "value": 2}]}])}),
    M("rubric_value_not_a_number", "--db {db} rubrics validate {dir}/r.yaml", "r.yaml", "Fix",
      files={"r.yaml": rubric(dimensions=[{"name": "score", "question": "q", "level": "ordinal", "options": [
          {"label": "a", "value": "high"}, {"label": "b", "value": 2}]}])}),
    M("rubric_no_options", "--db {db} rubrics validate {dir}/r.yaml", "r.yaml", "Fix",
      files={"r.yaml": rubric(dimensions=[{"name": "score", "question": "q", "level": "ordinal", "options": []}])}),
    M("rubric_unknown_level", "--db {db} rubrics validate {dir}/r.yaml", "r.yaml", "Fix",
      files={"r.yaml": rubric(dimensions=[{"name": "score", "question": "q", "level": "fuzzy", "options": [
          {"label": "a", "value": 1}, {"label": "b", "value": 2}]}])}),
    M("rubric_broken_yaml", "--db {db} rubrics validate {dir}/r.yaml", "r.yaml", "line", files={"r.yaml": "a: [\n"}),
    # --- judge configs and endpoints
    M("judge_config_missing", "--db {db} judge run {dir}/none.yaml", "none.yaml", "Fix"),
    M("judge_config_is_a_directory", "--db {db} judge run {dir}", "Fix"),
    M("judge_config_without_model", "--db {db} judge run {dir}/j.yaml", "model", "Fix",
      files={"j.yaml": judge_config(model=None), **J}),
    M("judge_config_unknown_field", "--db {db} judge run {dir}/j.yaml", "temprature", "Fix",
      files={"j.yaml": judge_config(temprature=0.2), **J}),
    M("judge_config_bad_temperature", "--db {db} judge run {dir}/j.yaml", "temperature", "Fix",
      files={"j.yaml": judge_config(temperature="hot"), **J}),
    M("judge_config_unknown_rubric", "--db {db} judge run {dir}/j.yaml", "nope", "Fix",
      files={"j.yaml": judge_config(rubric="nope"), **J}),
    M("judge_config_prompt_missing", "--db {db} judge run {dir}/j.yaml", "t.j2", "Fix",
      files={"j.yaml": judge_config()}),
    M("judge_config_template_syntax", "--db {db} judge run {dir}/j.yaml", "t.j2", "Fix",
      files={"j.yaml": judge_config(), "t.j2": "{% for d in dimensions %}"}),
    M("judge_config_bad_url", "--db {db} judge run {dir}/j.yaml", "base_url", "Fix",
      files={"j.yaml": judge_config(base_url="localhost:8000"), **J}),
    M("judge_config_bad_mode", "--db {db} judge run {dir}/j.yaml", "mode", "Fix",
      files={"j.yaml": judge_config(mode="telepathy"), **J}),
    M("judge_config_zero_concurrency", "--db {db} judge run {dir}/j.yaml", "concurrency", "Fix",
      files={"j.yaml": judge_config(concurrency=0), **J}),
    M("judge_config_broken_yaml", "--db {db} judge run {dir}/j.yaml", "j.yaml", "line",
      files={"j.yaml": "name: [\n", **J}),
    M("judge_config_key_env_unset", "--db {db} judge run {dir}/j.yaml", "AUDITOR_NO_SUCH_KEY", "Fix",
      files={"j.yaml": judge_config(api_key_env="AUDITOR_NO_SUCH_KEY"), **J}),
    M("judge_nothing_to_judge", "--db {db} judge run {dir}/j.yaml --where nope=1", "Fix",
      files={"j.yaml": judge_config(), **J}),
    M("judge_endpoint_down", "--db {db} judge run {dir}/j.yaml", "127.0.0.1", "Fix",
      files={"j.yaml": judge_config(), **J}, writes=True),
    M("judge_runs_unknown", "--db {db} judge show nope", "nope", "judge list"),
    # --- campaigns, panels, plans, the server
    M("annotate_unknown_rubric", "--db {db} annotate create x --rubric nope --annotators a,b", "nope", "Fix"),
    M("annotate_no_annotators", ["--db", "{db}", "annotate", "create", "x", "--rubric", "llm_rubric",
                                 "--annotators", ""], "--annotators", "e.g."),
    M("annotate_overlap_too_large", "--db {db} annotate create x --rubric llm_rubric --annotators a,b --overlap 3",
      "overlap", "Fix"),
    M("annotate_bad_strategy", "--db {db} annotate create x --rubric llm_rubric --annotators a --strategy luck",
      "luck", "random"),
    M("annotate_negative_sample", "--db {db} annotate create x --rubric llm_rubric --annotators a --sample -3",
      "--sample", "at least 1"),
    M("annotate_show_unknown", "--db {db} annotate show nope", "nope", "annotate list"),
    M("annotate_close_unknown", "--db {db} annotate close nope", "nope", "annotate list"),
    M("annotate_reissue_unknown", "--db {db} annotate reissue nope --annotator a", "nope", "annotate list"),
    M("annotate_bad_stratify", "--db {db} annotate create x --rubric llm_rubric --annotators a,b --strategy "
      "stratified --sample 1 --stratify-by colour", "colour", "system"),
    M("panel_unknown_members", "--db {db} panel create p --judges a,b --rule mean", "Fix"),
    M("panel_one_member", "--db {db} panel create p --judges j1 --rule mean", "Fix"),
    M("panel_humans", "--db {db} panel create p --judges h1,h2 --rule mean", "human", "Fix"),
    M("panel_bad_rule", "--db {db} panel create p --judges j1,h1 --rule vote", "vote", "mean"),
    M("plan_unknown_rater", "--db {db} plan --rater nobody", "nobody", "Fix"),
    M("plan_alpha_out_of_range", "--db {db} plan --assume-alpha 1.5", "1.5", "between -1 and 1"),
    M("plan_unknown_statistic", "--db {db} plan --rater j1 --statistic luck", "luck", "Fix"),
    M("serve_port_not_a_number", "--db {db} serve --port http", "--port", "-h", code=2),
    M("serve_port_out_of_range", "--db {db} serve --port 99999", "99999", "between 1 and 65535"),
    M("demo_unknown_dataset", "--db {dir}/d.duckdb demo --dataset foo", "foo", "llm-rubric"),
]

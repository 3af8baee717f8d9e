-- 009: signals stored in two tables, read through one view.
-- A bulk-loaded file of ratings (no confidence, probability, raw output, rationale or error column) leaves six of the
-- sixteen columns empty, and DuckDB pays to append and compress every column, empty or not: a bare insert of 32M
-- signals into the sixteen columns took 1.76-1.93x a CREATE TABLE AS of the file, into the ten 1.43x
-- (benchmarks/bench_ingest.py --breakdown). Such loads now go to signal_rows_lean; everything else (judge runs,
-- campaigns, panels, calibrated raters, files with those columns) to signal_rows, the table that was `signals`.
-- `signals` is a view of both, with the columns it always had in the order they had, so every query that reads it
-- (auditor's, `auditor sql`, views) is unchanged. Writers insert into one table and delete from both; a signal's key
-- (conversation_id, rubric, dimension, rater_id, sample) is unique across the two (every load checks it through the
-- view). Renaming is a catalog change: no row is copied. A column added to signal_rows later must be added to the
-- lean half of this view too (`SELECT *` would otherwise no longer line up, and every read of signals would fail).
ALTER TABLE signals RENAME TO signal_rows;

CREATE TABLE signal_rows_lean (
    conversation_id VARCHAR NOT NULL,
    rubric          VARCHAR NOT NULL,
    dimension       VARCHAR NOT NULL,
    rater_id        VARCHAR NOT NULL,
    sample          INTEGER NOT NULL DEFAULT 0,
    status          signal_status NOT NULL DEFAULT 'ok',
    label           VARCHAR,
    value           DOUBLE,
    value_source    signal_value_source,
    batch_id        VARCHAR
);

CREATE VIEW signals AS
SELECT * FROM signal_rows
UNION ALL
SELECT conversation_id, rubric, dimension, rater_id, sample, status, label, value, value_source,
       NULL::DOUBLE AS confidence, NULL::JSON AS probs, NULL::VARCHAR AS raw, NULL::VARCHAR AS rationale,
       NULL::VARCHAR AS error, NULL::VARCHAR AS run_id, batch_id
FROM signal_rows_lean;

-- 010: the rubric and batch of a lean signal are its load's, stored once per load.
-- A bulk load writes one rubric and one batch id into every row of signal_rows_lean: two constant text columns
-- that DuckDB appends and compresses row by row (a 22-character batch id is not even inlined). Measured on the
-- benchmark's 3.2M-row CSV (benchmarks/bench_ingest.py), an insert without them is ~0.3 s faster of ~2.9 s; a
-- read through the view pays one join with a table of one row per load (~2 ms per million lean rows).
-- signal_rows_lean now holds a load_key instead; signal_loads maps it to the rubric and the batch id, and the view
-- `signals` keeps its columns, order and types. Existing lean rows are copied once, with a key per (rubric, batch).
CREATE TABLE signal_loads (
    load_key INTEGER PRIMARY KEY,
    rubric   VARCHAR NOT NULL,
    batch_id VARCHAR
);

INSERT INTO signal_loads
SELECT (row_number() OVER (ORDER BY rubric, batch_id))::INTEGER, rubric, batch_id
FROM (SELECT DISTINCT rubric, batch_id FROM signal_rows_lean);

CREATE TABLE signal_rows_lean_010 (
    conversation_id VARCHAR NOT NULL,
    dimension       VARCHAR NOT NULL,
    rater_id        VARCHAR NOT NULL,
    sample          INTEGER NOT NULL DEFAULT 0,
    status          signal_status NOT NULL DEFAULT 'ok',
    label           VARCHAR,
    value           DOUBLE,
    value_source    signal_value_source,
    load_key        INTEGER NOT NULL
);

INSERT INTO signal_rows_lean_010
SELECT l.conversation_id, l.dimension, l.rater_id, l.sample, l.status, l.label, l.value, l.value_source, k.load_key
FROM signal_rows_lean l JOIN signal_loads k ON k.rubric = l.rubric AND k.batch_id IS NOT DISTINCT FROM l.batch_id;

DROP VIEW signals;
DROP TABLE signal_rows_lean;
ALTER TABLE signal_rows_lean_010 RENAME TO signal_rows_lean;

-- as in 009: a column added to signal_rows later must be added to the lean half too
CREATE VIEW signals AS
SELECT * FROM signal_rows
UNION ALL
SELECT l.conversation_id, k.rubric, l.dimension, l.rater_id, l.sample, l.status, l.label, l.value, l.value_source,
       NULL::DOUBLE AS confidence, NULL::JSON AS probs, NULL::VARCHAR AS raw, NULL::VARCHAR AS rationale,
       NULL::VARCHAR AS error, NULL::VARCHAR AS run_id, k.batch_id
FROM signal_rows_lean l JOIN signal_loads k USING (load_key);

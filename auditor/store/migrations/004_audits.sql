-- 004: stored audit results. Every `auditor audit` run (and every audit `report` / `compare` had to compute) is
-- kept with the options and a fingerprint of the data it read, so an audit is reused only for the same options
-- on the same data and version, and a team sees its judges' agreement over time (`auditor audit history`).
CREATE TABLE audit_runs (
    audit_id        VARCHAR PRIMARY KEY,
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    auditor_version VARCHAR NOT NULL,
    options_key     VARCHAR NOT NULL,      -- the options that decide the rows, as canonical JSON
    options         JSON,
    n_boot          INTEGER,
    seed            BIGINT,
    ci_method       VARCHAR,
    fingerprint     VARCHAR NOT NULL,      -- sha256 over the content of every table an audit reads
    n_rows          INTEGER NOT NULL,
    seconds         DOUBLE,
    command         VARCHAR                -- audit | report | compare | python
);

CREATE TABLE audit_rows (
    audit_id  VARCHAR NOT NULL,
    row_index INTEGER NOT NULL,
    rater     VARCHAR,
    reference VARCHAR,
    design    VARCHAR,
    rubric    VARCHAR,
    dimension VARCHAR,
    level     VARCHAR,
    statistic VARCHAR,
    value     DOUBLE,
    ci_low    DOUBLE,
    ci_high   DOUBLE,
    n         BIGINT,
    note      VARCHAR,
    PRIMARY KEY (audit_id, row_index)
);

-- Every stored audit row with when it was computed and the rater's model / judge config at that time.
CREATE VIEW audit_history AS
SELECT a.audit_id, r.created_at, r.auditor_version, r.n_boot, r.seed, r.fingerprint, a.rater, rt.model,
       rt.config_hash, a.reference, a.design, a.rubric, a.dimension, a.level, a.statistic, a.value, a.ci_low,
       a.ci_high, a.n, a.note
FROM audit_rows a
JOIN audit_runs r USING (audit_id)
LEFT JOIN raters rt ON rt.rater_id = a.rater;

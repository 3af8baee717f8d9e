-- 001: the initial store. Every table below is documented in README.md ("The store").
CREATE TABLE rubrics (
    rubric       VARCHAR PRIMARY KEY,
    version      VARCHAR NOT NULL,
    description  VARCHAR,
    content_hash VARCHAR NOT NULL,
    spec         JSON NOT NULL
);

CREATE TABLE dimensions (
    rubric           VARCHAR NOT NULL,
    dimension        VARCHAR NOT NULL,
    position         INTEGER NOT NULL,
    question         VARCHAR,
    level            VARCHAR NOT NULL CHECK (level IN ('binary', 'nominal', 'ordinal', 'interval', 'ratio')),
    higher_is_better BOOLEAN,
    missing_code     VARCHAR,
    value_min        DOUBLE NOT NULL,
    value_max        DOUBLE NOT NULL,
    PRIMARY KEY (rubric, dimension)
);

CREATE TABLE options (
    rubric    VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL,
    position  INTEGER NOT NULL,
    label     VARCHAR NOT NULL,
    value     DOUBLE NOT NULL,
    PRIMARY KEY (rubric, dimension, label)
);

CREATE TABLE ingest_batches (
    batch_id    VARCHAR PRIMARY KEY,
    kind        VARCHAR NOT NULL,          -- signals | conversations | tau-bench | tau-usi | demo
    source      VARCHAR NOT NULL,          -- file path (or a name for Python-API loads)
    sha256      VARCHAR,
    rubric      VARCHAR,
    options     JSON,
    n_rows      BIGINT NOT NULL,
    n_inserted  BIGINT NOT NULL,
    n_replaced  BIGINT NOT NULL,
    n_unchanged BIGINT NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE tasks (
    task_id    VARCHAR PRIMARY KEY,
    domain     VARCHAR,
    difficulty DOUBLE,          -- pooled success rate, when known (tau-bench outcome calibration)
    metadata   JSON
);

CREATE SEQUENCE conversation_key_seq;
CREATE TABLE conversations (
    conversation_id VARCHAR PRIMARY KEY,
    conv_key        BIGINT NOT NULL DEFAULT nextval('conversation_key_seq'),
    task_id         VARCHAR,
    user_kind       VARCHAR,          -- 'human', or the simulator's id
    user_id         VARCHAR,          -- the human participant or simulator run, when known
    human_batch     VARCHAR,          -- the human batch (tau-bench study: 1, 2, 3), when known
    messages        JSON,             -- [{"role": ..., "content": ...}, ...]
    n_turns         INTEGER,
    n_chars         BIGINT,
    reward          DOUBLE,           -- rule-based reward (tau-bench 0/1), when known
    keep            BOOLEAN,          -- false = excluded by the data's authors
    metadata        JSON,
    batch_id        VARCHAR
);

CREATE TABLE judge_configs (
    config_hash VARCHAR PRIMARY KEY,
    name        VARCHAR NOT NULL,
    model       VARCHAR,
    base_url    VARCHAR,
    rubric      VARCHAR,
    role        VARCHAR,
    spec        JSON,               -- the config without any secret
    prompt      VARCHAR,            -- the prompt template text
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE raters (
    rater_id    VARCHAR PRIMARY KEY,
    kind        VARCHAR NOT NULL CHECK (kind IN ('human', 'judge', 'simulator')),
    model       VARCHAR,
    config_hash VARCHAR,
    metadata    JSON
);

CREATE TABLE runs (
    run_id       VARCHAR PRIMARY KEY,
    config_hash  VARCHAR NOT NULL,
    rater_id     VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,  -- running | finished | interrupted | failed
    started_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at  TIMESTAMP,
    n_planned    BIGINT DEFAULT 0,
    n_done       BIGINT DEFAULT 0,
    n_failed     BIGINT DEFAULT 0,
    n_cached     BIGINT DEFAULT 0,
    tokens_in    BIGINT DEFAULT 0,
    tokens_out   BIGINT DEFAULT 0,
    cost_usd     DOUBLE,
    wall_s       DOUBLE,
    metadata     JSON
);

-- One rating. Uniqueness of (conversation_id, rubric, dimension, rater_id, sample) is enforced by the store's
-- write module (an index on tens of millions of rows would cost more than it protects).
CREATE TABLE signals (
    conversation_id VARCHAR NOT NULL,
    rubric          VARCHAR NOT NULL,
    dimension       VARCHAR NOT NULL,
    rater_id        VARCHAR NOT NULL,
    sample          INTEGER NOT NULL DEFAULT 0,
    status          VARCHAR NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'not_answered', 'failed')),
    label           VARCHAR,          -- the option label, when the rating names one option
    value           DOUBLE,           -- numeric value (an option value, or an expected value from probabilities)
    value_source    VARCHAR,          -- label | value | expected | argmax
    confidence      DOUBLE,           -- self-reported confidence in [0, 1]
    probs           JSON,             -- {"option label": probability, ...}
    raw             VARCHAR,          -- raw model output (LLM raters)
    rationale       VARCHAR,
    error           VARCHAR,          -- why a failed signal failed
    run_id          VARCHAR,
    batch_id        VARCHAR
);

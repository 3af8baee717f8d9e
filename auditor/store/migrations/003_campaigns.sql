-- 003: human-rating campaigns (README.md, "Collecting human ratings"). Written only by auditor/store/_campaigns.py.

-- One labelling round: a rubric, a recorded sampling design, K annotators per item.
CREATE TABLE campaigns (
    campaign         VARCHAR PRIMARY KEY,
    rubric           VARCHAR NOT NULL,
    strategy         VARCHAR NOT NULL,  -- all | random | stratified | disagreement (checked by the campaign module)
    stratify_by      VARCHAR,
    where_sql        VARCHAR,          -- the user's filter on conversations, as given
    overlap          INTEGER NOT NULL, -- annotators per item
    seed             BIGINT NOT NULL,
    population_n     BIGINT NOT NULL,  -- conversations the sample was drawn from
    n_items          BIGINT NOT NULL,
    status           VARCHAR NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    admin_token_hash VARCHAR NOT NULL, -- sha256 of the admin token; the token itself is never stored
    batch_id         VARCHAR NOT NULL, -- the ingest_batches row its answers belong to
    design           JSON,             -- strata sizes and the allocation rule
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    closed_at        TIMESTAMP
);

CREATE TABLE campaign_annotators (
    campaign   VARCHAR NOT NULL,
    annotator  VARCHAR NOT NULL,       -- also the rater id of their answers (kind 'human')
    token_hash VARCHAR NOT NULL,       -- sha256 of the private token
    PRIMARY KEY (campaign, annotator)
);

-- The sampled conversations, with the probability that the design included each one (NULL for a non-random
-- rule such as 'disagreement': largest LLM-human disagreement first).
CREATE TABLE campaign_items (
    campaign        VARCHAR NOT NULL,
    item_id         INTEGER NOT NULL,
    conversation_id VARCHAR NOT NULL,
    inclusion_prob  DOUBLE,
    stratum         VARCHAR,
    PRIMARY KEY (campaign, item_id)
);

-- Who rates what, in which order. status: pending | skipped | done.
CREATE TABLE campaign_assignments (
    campaign      VARCHAR NOT NULL,
    item_id       INTEGER NOT NULL,
    annotator     VARCHAR NOT NULL,
    position      INTEGER NOT NULL,    -- the item's place in this annotator's queue
    status        VARCHAR NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'skipped', 'done')),
    submitted_at  TIMESTAMP,           -- first submission
    updated_at    TIMESTAMP,           -- last submission that changed an answer
    seconds_spent DOUBLE,              -- time from showing the item to submitting it, summed over submissions
    n_edits       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign, item_id, annotator)
);

-- The current answer of each (item, annotator, dimension): the same values as its row in signals, kept here with a
-- key so that a submission finds what it replaces without scanning signals.
CREATE TABLE campaign_answers (
    campaign  VARCHAR NOT NULL,
    item_id   INTEGER NOT NULL,
    annotator VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL,
    status    VARCHAR NOT NULL,
    label     VARCHAR,
    value     DOUBLE,
    PRIMARY KEY (campaign, item_id, annotator, dimension)
);

-- Earlier values of signals that were replaced (an annotator editing an answer).
CREATE TABLE signal_history (
    conversation_id VARCHAR NOT NULL,
    rubric          VARCHAR NOT NULL,
    dimension       VARCHAR NOT NULL,
    rater_id        VARCHAR NOT NULL,
    sample          INTEGER NOT NULL,
    status          VARCHAR NOT NULL,
    label           VARCHAR,
    value           DOUBLE,
    batch_id        VARCHAR,
    replaced_at     TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Server-side secrets that are not credentials of anyone (the key that derives per-page form tokens).
CREATE TABLE web_keys (
    name  VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

-- Where a stored rubric came from (the YAML file it was first loaded from), so `auditor rubrics list` can say.
ALTER TABLE rubrics ADD COLUMN IF NOT EXISTS source VARCHAR;

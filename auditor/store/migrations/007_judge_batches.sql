-- 007: judge runs through a provider's Batch API (auditor/judge/_batch.py). A submission is recorded with its
-- items BEFORE its file is uploaded and its batch created; our submission id travels as the batch's metadata, so a
-- process killed between "create" and "record" finds its batch again (batches.list) instead of submitting twice.
CREATE TABLE judge_batches (
    submission_id   VARCHAR PRIMARY KEY,    -- ours (sent as metadata.auditor_submission)
    run_id          VARCHAR NOT NULL,
    config_hash     VARCHAR NOT NULL,
    state           VARCHAR NOT NULL,       -- preparing | submitted | collected
    batch_id        VARCHAR,                -- the provider's, once created or adopted
    input_file_id   VARCHAR,
    provider_status VARCHAR,                -- validating | in_progress | finalizing | completed | failed | expired | ...
    n_items         BIGINT NOT NULL,
    attempt         INTEGER NOT NULL,       -- 1 for a run's first submissions, +1 for each re-submission
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    checked_at      TIMESTAMP,
    collected_at    TIMESTAMP,
    output_file_id  VARCHAR,
    error_file_id   VARCHAR,
    tokens_in       BIGINT NOT NULL DEFAULT 0,
    tokens_out      BIGINT NOT NULL DEFAULT 0,
    metadata        JSON
);

-- One requested item (conversation x sample) of a submission. outcome is NULL while its batch is pending; then
-- ok | failed | resubmitted. body holds the request only for a re-ask (instructor's correction messages); other
-- requests are rebuilt from the prompt template.
CREATE TABLE judge_batch_items (
    submission_id   VARCHAR NOT NULL,
    custom_id       VARCHAR NOT NULL,
    conversation_id VARCHAR NOT NULL,
    sample          INTEGER NOT NULL,
    reasks          INTEGER NOT NULL DEFAULT 0,
    retries         INTEGER NOT NULL DEFAULT 0,
    outcome         VARCHAR,
    body            VARCHAR
);

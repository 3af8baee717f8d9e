-- 006: how imported human labels were sampled: a signals file's inclusion_prob (and stratum) per conversation, so
-- corrected estimates weight them like a campaign's (auditor/audit/_fetch.py: inclusion_probs).
CREATE TABLE label_designs (
    rubric          VARCHAR NOT NULL,
    conversation_id VARCHAR NOT NULL,
    inclusion_prob  DOUBLE NOT NULL CHECK (inclusion_prob > 0 AND inclusion_prob <= 1),
    stratum         VARCHAR,
    source          VARCHAR NOT NULL,
    batch_id        VARCHAR,
    PRIMARY KEY (rubric, conversation_id)
);

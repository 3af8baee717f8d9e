-- 005: the system under test (agent / dialogue system / model) of each conversation, for system-level audits.
-- Conversations loaded before this migration kept it in metadata.system_id (campaign strata, the browser): copied.
ALTER TABLE conversations ADD COLUMN system_id VARCHAR;
UPDATE conversations SET system_id = json_extract_string(metadata, '$.system_id')
WHERE json_extract_string(metadata, '$.system_id') IS NOT NULL;

CREATE OR REPLACE VIEW signals_long AS
SELECT s.conversation_id, c.task_id, c.system_id, c.user_kind, c.human_batch, s.rubric, s.dimension, d.level,
       s.rater_id, r.kind AS rater_kind, r.model, r.config_hash, s.sample, s.label, s.value, s.value_source,
       s.confidence, s.probs, s.run_id, s.batch_id
FROM signals s
JOIN raters r USING (rater_id)
JOIN dimensions d ON d.rubric = s.rubric AND d.dimension = s.dimension
LEFT JOIN conversations c USING (conversation_id)
WHERE s.status = 'ok';

CREATE OR REPLACE VIEW paired AS
SELECT l.conversation_id, l.task_id, l.system_id, l.rubric, l.dimension, l.level,
       l.rater_id AS llm_rater, l.rater_kind AS llm_kind, l.sample AS llm_sample,
       l.label AS llm_label, l.value AS llm_value, l.confidence AS llm_confidence,
       h.rater_id AS human_rater, h.label AS human_label, h.value AS human_value,
       l.value - h.value AS diff
FROM signals_long l
JOIN signals_long h
  ON h.conversation_id = l.conversation_id AND h.rubric = l.rubric AND h.dimension = l.dimension
WHERE l.rater_kind IN ('judge', 'simulator') AND h.rater_kind = 'human';

CREATE OR REPLACE VIEW matched AS
SELECT l.task_id, l.rubric, l.dimension, l.level,
       l.rater_id AS llm_rater, l.rater_kind AS llm_kind, l.conversation_id AS llm_conversation,
       l.system_id AS llm_system, l.sample AS llm_sample, l.label AS llm_label, l.value AS llm_value,
       h.rater_id AS human_rater, h.human_batch, h.conversation_id AS human_conversation,
       h.system_id AS human_system, h.label AS human_label, h.value AS human_value
FROM signals_long l
JOIN signals_long h
  ON h.task_id = l.task_id AND h.rubric = l.rubric AND h.dimension = l.dimension
 AND h.conversation_id <> l.conversation_id
WHERE l.task_id IS NOT NULL AND l.rater_kind IN ('judge', 'simulator') AND h.rater_kind = 'human';

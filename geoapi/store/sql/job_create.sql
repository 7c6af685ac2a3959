-- One import job per sequence key, in one statement. A key the user has imported already is
-- created finished ('exists', with its sequence id), so re-importing never duplicates it.
-- created_at is the clock, row by row, so workers take the jobs in the order the keys came.
INSERT INTO import_jobs (user_id, source, sequence_key, options, max_attempts, status, reason,
                         sequence_id, finished_at, created_at)
SELECT :user_id, :source, k.key, CAST(:options AS jsonb), :max_attempts,
       CASE WHEN s.id IS NULL THEN 'queued' ELSE 'exists' END,
       CASE WHEN s.id IS NULL THEN NULL ELSE 'you imported this sequence already' END,
       s.id,
       CASE WHEN s.id IS NULL THEN NULL ELSE now() END,
       clock_timestamp()
FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS k (key, ord)
LEFT JOIN sequences s ON s.mapillary_key = k.key AND s.owner_id = :user_id
ORDER BY k.ord
RETURNING *

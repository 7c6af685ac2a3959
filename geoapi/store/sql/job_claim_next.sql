-- Take the oldest due job. SKIP LOCKED: a job another worker is claiming right now is skipped,
-- never taken twice; the row lock lasts until the caller commits the claim.
UPDATE import_jobs
SET status = 'running', locked_at = now(), locked_by = :worker_id, attempts = attempts + 1
WHERE id = (
    SELECT id FROM import_jobs
    WHERE status = 'queued' AND run_after <= now()
    ORDER BY created_at, id
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
RETURNING *

-- Take one given job if it is still queued (inline runs ignore run_after: they retry at once).
UPDATE import_jobs
SET status = 'running', locked_at = now(), locked_by = :worker_id, attempts = attempts + 1
WHERE id = (
    SELECT id FROM import_jobs WHERE id = :job_id AND status = 'queued' FOR UPDATE SKIP LOCKED
)
RETURNING *

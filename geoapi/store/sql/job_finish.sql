-- Record the end of an attempt by the worker holding the job: a final status, or 'queued' again
-- after :delay_s seconds. A worker whose job was recovered as stale changes nothing.
UPDATE import_jobs
SET status = :status,
    reason = :reason,
    sequence_id = :sequence_id,
    locked_at = NULL,
    locked_by = NULL,
    run_after = CASE WHEN :status = 'queued' THEN now() + make_interval(secs => :delay_s)
                     ELSE run_after END,
    finished_at = CASE WHEN :status = 'queued' THEN NULL ELSE now() END
WHERE id = :job_id AND status = 'running' AND locked_by = :worker_id
RETURNING *

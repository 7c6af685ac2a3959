-- Crash recovery: a job 'running' for longer than :stale_after_s lost its worker. It is queued
-- again while attempts remain, else failed; either way the attempt it was on counts.
UPDATE import_jobs
SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
    reason = CASE WHEN attempts >= max_attempts
                  THEN 'gave up after ' || attempts::text
                       || ' attempt(s): the worker running the last one stopped responding'
                  ELSE 'the worker running attempt ' || attempts::text
                       || ' stopped responding; queued again' END,
    finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
    locked_at = NULL,
    locked_by = NULL,
    run_after = now()
WHERE id IN (
    SELECT id FROM import_jobs
    WHERE status = 'running' AND locked_at < now() - make_interval(secs => :stale_after_s)
    FOR UPDATE SKIP LOCKED
)
RETURNING id, status

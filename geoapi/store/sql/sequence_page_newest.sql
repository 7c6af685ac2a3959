-- Keyset page, newest captured first: captured_at DESC with NULLs last (as -infinity), then id.
-- :c_id NULL means the first page; otherwise rows strictly after (:c_captured_at, :c_id).
WHERE /*@include sequence_filters*/
  AND /*@include sequence_bbox*/
  AND (CAST(:c_id AS uuid) IS NULL
       OR (COALESCE(s.captured_at, '-infinity'), s.id)
          < (COALESCE(CAST(:c_captured_at AS timestamptz), '-infinity'), CAST(:c_id AS uuid)))
ORDER BY COALESCE(s.captured_at, '-infinity') DESC, s.id DESC
LIMIT :limit

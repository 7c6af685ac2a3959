-- Keyset page of tours, newest first, optionally one user's (case-insensitive username).
WHERE (CAST(:f_username AS text) IS NULL OR lower(u.username) = lower(CAST(:f_username AS text)))
  AND (CAST(:c_id AS uuid) IS NULL
       OR (t.created_at, t.id) < (CAST(:c_created_at AS timestamptz), CAST(:c_id AS uuid)))
ORDER BY t.created_at DESC, t.id DESC
LIMIT :limit

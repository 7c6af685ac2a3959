-- Keyset page, most liked first, then id; rows strictly after (:c_like_count, :c_id).
WHERE /*@include sequence_filters*/
  AND /*@include sequence_bbox*/
  AND (CAST(:c_id AS uuid) IS NULL
       OR (s.like_count, s.id) < (CAST(:c_like_count AS integer), CAST(:c_id AS uuid)))
ORDER BY s.like_count DESC, s.id DESC
LIMIT :limit

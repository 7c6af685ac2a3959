    -- The property filters shared by items, tiles and exports, on a sequences row aliased "s".
    -- Static SQL: every value is a bind parameter; NULL means "no filter" (psycopg2 sends
    -- literals, so the planner folds unused branches away).
    s.status = 'published'
    AND (CAST(:f_transport_type_ids AS integer[]) IS NULL
         OR s.transport_type_id = ANY(CAST(:f_transport_type_ids AS integer[])))
    AND (CAST(:f_tags AS text[]) IS NULL OR s.id IN (
         SELECT st.sequence_id FROM sequence_tags st JOIN tags t ON t.id = st.tag_id
         WHERE t.name = ANY(CAST(:f_tags AS text[]))
         GROUP BY st.sequence_id
         HAVING count(*) = cardinality(CAST(:f_tags AS text[]))))
    AND (CAST(:f_username AS text) IS NULL OR s.owner_id IN (
         SELECT u.id FROM users u WHERE lower(u.username) = lower(CAST(:f_username AS text))))
    AND (CAST(:f_camera_make AS text) IS NULL
         OR lower(s.camera_make) = lower(CAST(:f_camera_make AS text)))
    AND (CAST(:f_pano AS boolean) IS NULL OR s.pano = CAST(:f_pano AS boolean))
    AND (CAST(:f_start AS timestamptz) IS NULL OR s.captured_at >= CAST(:f_start AS timestamptz))
    AND (CAST(:f_end AS timestamptz) IS NULL OR s.captured_at <= CAST(:f_end AS timestamptz))

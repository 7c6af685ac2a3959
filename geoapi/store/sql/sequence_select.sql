-- One sequence as the API shows it (a sequences row aliased "s"), for reads and lists.
-- The caller appends the WHERE clause; :viewer_id (uuid or NULL) drives liked_by_me.
SELECT s.id, s.owner_id, u.username, s.status, s.title, s.description,
       tt.name AS transport_type, ptt.name AS transport_type_parent,
       s.camera_make, s.captured_at, s.mapillary_created_at, s.created_at, s.updated_at,
       s.mapillary_key, s.mapillary_user_key, s.mapillary_username, s.pano,
       s.photo_count, s.length_m, s.like_count,
       CAST(ST_AsGeoJSON(s.geom) AS json) AS geometry,
       ARRAY(SELECT t.name FROM sequence_tags st JOIN tags t ON t.id = st.tag_id
             WHERE st.sequence_id = s.id ORDER BY t.name) AS tags,
       ARRAY(SELECT CAST(ts.tour_id AS text) FROM tour_sequences ts JOIN tours tr ON tr.id = ts.tour_id
             WHERE ts.sequence_id = s.id ORDER BY tr.created_at, tr.id) AS tour_ids,
       EXISTS (SELECT 1 FROM likes l
               WHERE l.sequence_id = s.id AND l.user_id = CAST(:viewer_id AS uuid)) AS liked_by_me
FROM sequences s
JOIN users u ON u.id = s.owner_id
LEFT JOIN transport_types tt ON tt.id = s.transport_type_id
LEFT JOIN transport_types ptt ON ptt.id = tt.parent_id

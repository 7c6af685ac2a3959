-- Sequence Features (GeoJSON text built here) in keyset order: published only, the shared
-- property filters, up to two bbox envelopes (two when the bbox crosses the antimeridian) found
-- by && on the indexed 4326 geom and then checked exactly (a line whose box overlaps the bbox
-- may still miss it; a line whose box lies inside needs no exact test: @), and "after" the
-- cursor's id. NULL binds mean "no such condition".
SELECT s.id AS k1, 0 AS k2,
       '{"type":"Feature","id":"' || s.id::text || '","geometry":' || ST_AsGeoJSON(s.geom)
       || ',"properties":' || json_build_object(
           'title', s.title,
           'description', s.description,
           'transport_type', tt.name,
           'transport_type_parent', tp.name,
           'tags', ARRAY(SELECT t.name FROM sequence_tags st JOIN tags t ON t.id = st.tag_id
                         WHERE st.sequence_id = s.id ORDER BY t.name),
           'camera_make', s.camera_make,
           'captured_at', to_char(s.captured_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'created_at', to_char(s.mapillary_created_at AT TIME ZONE 'UTC',
                                 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'mapillary_key', s.mapillary_key,
           'username', u.username,
           'pano', s.pano,
           'photo_count', s.photo_count,
           'length_m', round(s.length_m::numeric, 1),
           'like_count', s.like_count
       )::text || '}' AS feature
FROM sequences s
JOIN users u ON u.id = s.owner_id
LEFT JOIN transport_types tt ON tt.id = s.transport_type_id
LEFT JOIN transport_types tp ON tp.id = tt.parent_id
WHERE
/*@include sequence_filters*/
    AND /*@include sequence_bbox*/
    AND (CAST(:after_k1 AS uuid) IS NULL OR s.id > CAST(:after_k1 AS uuid))
    AND (CAST(:item_id AS uuid) IS NULL OR s.id = CAST(:item_id AS uuid))
ORDER BY s.id
LIMIT :limit

-- One photo Feature by id (the same shape as feature_photos.sql); only of a published sequence.
SELECT '{"type":"Feature","id":"' || p.id::text || '","geometry":' || ST_AsGeoJSON(p.geom)
       || ',"properties":' || json_build_object(
           'image_key', p.image_key,
           'ca', p.ca,
           'sequence_id', s.id,
           'position', p.position,
           'captured_at', to_char(COALESCE(p.captured_at, s.captured_at) AT TIME ZONE 'UTC',
                                  'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'pano', s.pano
       )::text || '}' AS feature
FROM photos p
JOIN sequences s ON s.id = p.sequence_id
WHERE p.id = CAST(:photo_id AS uuid) AND s.status = 'published'

-- Write the staged batch (import_stage.sql) in one statement: every staged sequence whose key is
-- new becomes a sequence row with its line and its photo rows. The writer stages only sequences
-- whose keys it found new (import_existing.sql) and no two that share a key or an image key, so
-- the only clash left is an image key that some other sequence holds: its photo is skipped
-- (ON CONFLICT DO NOTHING, one index descent per photo instead of a look-up and an insert),
-- the result shows the sequence short of photos, and the writer rolls the batch back and
-- writes it one sequence at a time, which names the clash (geoapi.store.staging).
WITH pts AS (
    SELECT ps.idx, ps.position, ps.image_key, ps.ca,
           ST_SetSRID(ST_MakePoint(ps.lon, ps.lat), 4326) AS geom
    FROM import_stage_photos ps
), line AS (
    SELECT idx,
           CASE WHEN count(*) = 1 THEN ST_MakeLine(min(geom), min(geom))
                ELSE ST_MakeLine(array_agg(geom ORDER BY position)) END AS geom,
           count(*)::integer AS photo_count
    FROM pts GROUP BY idx
), seq AS (
    INSERT INTO sequences (owner_id, mapillary_key, mapillary_user_key, mapillary_username,
                           title, description, transport_type_id, camera_make, captured_at,
                           mapillary_created_at, pano, source, geom, photo_count, length_m)
    SELECT :owner_id, st.key, st.user_key, st.username, st.title, st.description,
           st.transport_type_id, st.camera_make, st.captured_at, st.created_at, st.pano, :source,
           line.geom, line.photo_count, ST_Length(line.geom::geography)
    FROM import_stage_sequences st JOIN line ON line.idx = st.idx
    ORDER BY st.idx
    ON CONFLICT (mapillary_key) DO NOTHING
    RETURNING id, mapillary_key, photo_count
), photos_in AS (
    INSERT INTO photos (sequence_id, image_key, position, ca, geom)
    SELECT seq.id, pts.image_key, pts.position, pts.ca, pts.geom
    FROM seq
    JOIN import_stage_sequences st ON st.key = seq.mapillary_key
    JOIN pts ON pts.idx = st.idx
    ORDER BY seq.id, pts.position
    ON CONFLICT (image_key) DO NOTHING
    RETURNING sequence_id
), written AS (
    SELECT sequence_id, count(*)::integer AS photos FROM photos_in GROUP BY sequence_id
)
SELECT st.idx, seq.id AS sequence_id, seq.photo_count AS photos,
       COALESCE(w.photos, 0) AS photos_written
FROM import_stage_sequences st
LEFT JOIN seq ON seq.mapillary_key = st.key
LEFT JOIN written w ON w.sequence_id = seq.id
ORDER BY st.idx

-- Write the staged batch (import_stage.sql) in one statement: every staged sequence whose key is
-- new and none of whose image keys exists becomes a sequence row with its line and its photo
-- rows; the others are left alone, and the result says why, one row per staged sequence. The
-- writer stages no two sequences of a batch that share a key or an image key, so each staged
-- sequence is decided against the tables alone (a concurrent writer that takes a key meanwhile
-- makes the statement fail, and the batch is replayed one sequence at a time).
WITH existing AS (
    SELECT st.idx, s.id, s.owner_id
    FROM import_stage_sequences st JOIN sequences s ON s.mapillary_key = st.key
), taken AS (
    SELECT DISTINCT ps.idx
    FROM import_stage_photos ps JOIN photos p ON p.image_key = ps.image_key
), pts AS (
    SELECT ps.idx, ps.position, ps.image_key, ps.ca,
           ST_SetSRID(ST_MakePoint(ps.lon, ps.lat), 4326) AS geom
    FROM import_stage_photos ps
    WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.idx = ps.idx)
      AND NOT EXISTS (SELECT 1 FROM taken t WHERE t.idx = ps.idx)
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
    RETURNING 1
)
SELECT st.idx, seq.id AS sequence_id, seq.photo_count AS photos,
       e.id AS existing_id, e.owner_id AS existing_owner_id,
       EXISTS (SELECT 1 FROM taken t WHERE t.idx = st.idx) AS image_key_taken,
       (SELECT count(*) FROM photos_in) AS photos_written
FROM import_stage_sequences st
LEFT JOIN seq ON seq.mapillary_key = st.key
LEFT JOIN existing e ON e.idx = st.idx
ORDER BY st.idx

-- Insert one sequence and all its photos in one statement (the caller owns the transaction).
-- Photos are the points, in capture order; the line is built from them, so a one-photo
-- sequence becomes a zero-length two-point line that bbox queries and tiles still find.
-- Nothing is inserted (and no error raised) when the key exists already or when one of the
-- image keys belongs to another sequence: the caller reads which from the result. An existing
-- key is checked first, so a re-import builds no geometry at all.
WITH existing AS (
    SELECT id, owner_id FROM sequences WHERE mapillary_key = :key
), pts AS (
    SELECT (t.ord - 1)::integer AS position, t.image_key, t.ca,
           ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326) AS geom
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]), CAST(:cas AS float8[]),
                CAST(:image_keys AS text[])) WITH ORDINALITY AS t (lon, lat, ca, image_key, ord)
), taken AS (
    SELECT EXISTS (
        SELECT 1 FROM photos WHERE image_key = ANY(CAST(:image_keys AS text[]))
    ) AS image_key_taken
), line AS (
    SELECT CASE WHEN count(*) = 1 THEN ST_MakeLine(min(geom), min(geom))
                ELSE ST_MakeLine(array_agg(geom ORDER BY position)) END AS geom,
           count(*)::integer AS photo_count
    FROM pts
), seq AS (
    INSERT INTO sequences (owner_id, mapillary_key, mapillary_user_key, mapillary_username,
                           title, description, transport_type_id, camera_make, captured_at,
                           mapillary_created_at, pano, source, geom, photo_count, length_m)
    SELECT :owner_id, :key, :user_key, :username, :title, :description, :transport_type_id,
           :camera_make, :captured_at, :created_at, :pano, :source, line.geom, line.photo_count,
           ST_Length(line.geom::geography)
    FROM line, taken
    WHERE NOT EXISTS (SELECT 1 FROM existing) AND NOT taken.image_key_taken
    ON CONFLICT (mapillary_key) DO NOTHING
    RETURNING id
), photos_in AS (
    INSERT INTO photos (sequence_id, image_key, position, ca, geom)
    SELECT seq.id, pts.image_key, pts.position, pts.ca, pts.geom FROM seq CROSS JOIN pts
    RETURNING 1
)
SELECT (SELECT id FROM seq) AS sequence_id,
       (SELECT count(*) FROM photos_in) AS photos,
       (SELECT id FROM existing) AS existing_id,
       (SELECT owner_id FROM existing) AS existing_owner_id

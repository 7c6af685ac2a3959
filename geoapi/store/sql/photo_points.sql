-- The photo points of one sequence from the bound arrays (:lons, :lats, :cas, :image_keys, in
-- capture order), whether an image key is taken already, and the line built from them: a
-- one-photo sequence becomes a zero-length two-point line that bbox queries and tiles find.
-- Included (as common table expressions) by insert_sequence.sql and uploader_fill_sequence.sql.
pts AS (
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

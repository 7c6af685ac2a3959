-- Insert one sequence and all its photos in one statement (the caller owns the transaction).
-- Photos are the points, in capture order; the line is built from them, so a one-photo
-- sequence becomes a zero-length two-point line that bbox queries and tiles still find.
-- Nothing is inserted (and no error raised) when the key exists already or when one of the
-- image keys belongs to another sequence: the caller reads which from the result. An existing
-- key is checked first, so a re-import builds no geometry at all.
WITH existing AS (
    SELECT id, owner_id FROM sequences WHERE mapillary_key = :key
), /*@include photo_points*/
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
), /*@include photo_rows*/
SELECT (SELECT id FROM seq) AS sequence_id,
       (SELECT count(*) FROM photos_in) AS photos,
       (SELECT id FROM existing) AS existing_id,
       (SELECT owner_id FROM existing) AS existing_owner_id

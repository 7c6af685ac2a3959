-- Fill a desktop-uploader draft from a Mapillary sequence in one statement (the caller owns the
-- transaction): the line, counts and Mapillary fields on the sequence, one photo per point, and
-- status 'published'. The draft's title, description, transport type and tags are kept.
-- Nothing changes (and no error is raised) when the row is no longer a draft, when the key
-- belongs to another sequence, or when an image key belongs to another sequence: the caller
-- reads which from the result. Modelled on insert_sequence.sql.
WITH target AS (
    SELECT id FROM sequences WHERE id = :sequence_id AND status = 'draft' FOR UPDATE
), existing AS (
    SELECT id FROM sequences WHERE mapillary_key = :key AND id <> :sequence_id
), /*@include photo_points*/
), seq AS (
    UPDATE sequences s
    SET mapillary_key = :key,
        mapillary_user_key = :user_key,
        mapillary_username = :username,
        camera_make = :camera_make,
        captured_at = :captured_at,
        mapillary_created_at = :created_at,
        pano = :pano,
        geom = line.geom,
        photo_count = line.photo_count,
        length_m = ST_Length(line.geom::geography),
        status = 'published'
    FROM target, line, taken
    WHERE s.id = target.id AND NOT EXISTS (SELECT 1 FROM existing) AND NOT taken.image_key_taken
    RETURNING s.id
), /*@include photo_rows*/
SELECT (SELECT id FROM seq) AS sequence_id,
       (SELECT count(*) FROM photos_in) AS photos,
       EXISTS (SELECT 1 FROM target) AS was_draft,
       (SELECT id FROM existing LIMIT 1) AS existing_id,
       (SELECT image_key_taken FROM taken) AS image_key_taken

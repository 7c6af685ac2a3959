-- The photo rows of the sequence a writer just made or filled (a CTE "seq" with its id) from
-- photo_points.sql's "pts"; included by insert_sequence.sql and uploader_fill_sequence.sql.
photos_in AS (
    INSERT INTO photos (sequence_id, image_key, position, ca, geom)
    SELECT seq.id, pts.image_key, pts.position, pts.ca, pts.geom FROM seq CROSS JOIN pts
    RETURNING 1
)

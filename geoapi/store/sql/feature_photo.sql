-- One photo Feature by id (the same shape as feature_photos.sql); only of a published sequence.
SELECT
/*@include photo_feature*/ AS feature
FROM (
    SELECT ph.id, ph.position, ph.image_key, ph.ca, ph.geom, ph.geom_3857,
           COALESCE(ph.captured_at, sq.captured_at) AS captured_at, ph.sequence_id
    FROM photos ph
    JOIN sequences sq ON sq.id = ph.sequence_id
    WHERE ph.id = CAST(:photo_id AS uuid) AND sq.status = 'published'
) p
JOIN sequences s ON s.id = p.sequence_id

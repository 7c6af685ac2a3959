-- How many photos an items query matches (feature_photos.sql without paging), for
-- numberMatched; run under the count's own statement timeout (geoapi.store.counts).
SELECT count(*)
FROM (
    SELECT s.id, s.pano, s.captured_at
    FROM sequences s
    WHERE
/*@include photo_items_sequences*/
) s
JOIN LATERAL (
    SELECT ph.id, ph.position, ph.image_key, ph.ca, ph.geom,
           COALESCE(ph.captured_at, s.captured_at) AS captured_at
    FROM photos ph
    WHERE ph.sequence_id = s.id
) p ON true
WHERE
/*@include photo_items_match*/

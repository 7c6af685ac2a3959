-- How many photos an items query matches (feature_photos.sql without paging), for
-- numberMatched; run under the count's own statement timeout (geoapi.store.counts).
SELECT count(*)
FROM (
    SELECT s.id, s.pano, s.captured_at
    FROM sequences s
    WHERE
/*@include sequence_filters*/
        AND (CAST(:e1_xmin AS float8) IS NULL
             OR s.geom && ST_MakeEnvelope(:e1_xmin, :e1_ymin, :e1_xmax, :e1_ymax, 4326)
             OR (CAST(:e2_xmin AS float8) IS NOT NULL
                 AND s.geom && ST_MakeEnvelope(:e2_xmin, :e2_ymin, :e2_xmax, :e2_ymax, 4326)))
        /*@cql_sequences*//*@end*/
        AND (CAST(:sequence_id AS uuid) IS NULL OR s.id = CAST(:sequence_id AS uuid))
) s
JOIN LATERAL (
    SELECT ph.id, ph.position, ph.image_key, ph.ca, ph.geom,
           COALESCE(ph.captured_at, s.captured_at) AS captured_at
    FROM photos ph
    WHERE ph.sequence_id = s.id
) p ON true
WHERE (CAST(:e1_xmin AS float8) IS NULL
       OR p.geom && ST_MakeEnvelope(:e1_xmin, :e1_ymin, :e1_xmax, :e1_ymax, 4326)
       OR (CAST(:e2_xmin AS float8) IS NOT NULL
           AND p.geom && ST_MakeEnvelope(:e2_xmin, :e2_ymin, :e2_xmax, :e2_ymax, 4326)))
  AND (CAST(:p_start AS timestamptz) IS NULL OR p.captured_at >= CAST(:p_start AS timestamptz))
  AND (CAST(:p_end AS timestamptz) IS NULL OR p.captured_at <= CAST(:p_end AS timestamptz))
  /*@cql*//*@end*/

  -- The photos a photos items query matches, on a photo row aliased "p" of a sequence that
  -- photo_items_sequences.sql kept: inside the bbox, within the time range, the CQL2 filter.
      (CAST(:e1_xmin AS float8) IS NULL
       OR p.geom && ST_MakeEnvelope(:e1_xmin, :e1_ymin, :e1_xmax, :e1_ymax, 4326)
       OR (CAST(:e2_xmin AS float8) IS NOT NULL
           AND p.geom && ST_MakeEnvelope(:e2_xmin, :e2_ymin, :e2_xmax, :e2_ymax, 4326)))
  AND (CAST(:p_start AS timestamptz) IS NULL OR p.captured_at >= CAST(:p_start AS timestamptz))
  AND (CAST(:p_end AS timestamptz) IS NULL OR p.captured_at <= CAST(:p_end AS timestamptz))
  /*@cql*//*@end*/

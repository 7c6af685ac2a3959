-- A sequence (aliased "s") whose line meets the bbox: up to two envelopes (e1_*, e2_* binds; an
-- antimeridian-crossing bbox is split), NULL for no bbox. The indexed && first, then the exact
-- test (a line's box overlapping the bbox is not enough). Included by feature_sequences.sql and
-- the /api/v1/sequences pages.
(CAST(:e1_xmin AS float8) IS NULL
 OR (s.geom && ST_MakeEnvelope(:e1_xmin, :e1_ymin, :e1_xmax, :e1_ymax, 4326)
     AND (s.geom @ ST_MakeEnvelope(:e1_xmin, :e1_ymin, :e1_xmax, :e1_ymax, 4326)
          OR ST_Intersects(s.geom, ST_MakeEnvelope(:e1_xmin, :e1_ymin, :e1_xmax, :e1_ymax, 4326))))
 OR (CAST(:e2_xmin AS float8) IS NOT NULL
     AND s.geom && ST_MakeEnvelope(:e2_xmin, :e2_ymin, :e2_xmax, :e2_ymax, 4326)
     AND (s.geom @ ST_MakeEnvelope(:e2_xmin, :e2_ymin, :e2_xmax, :e2_ymax, 4326)
          OR ST_Intersects(s.geom, ST_MakeEnvelope(:e2_xmin, :e2_ymin, :e2_xmax, :e2_ymax, 4326)))))

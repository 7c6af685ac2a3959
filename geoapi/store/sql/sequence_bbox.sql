    -- A sequence row "s" against up to two bbox envelopes (two when the bbox crosses the
    -- antimeridian): found by && on the indexed 4326 geom, then checked exactly (a line whose
    -- box overlaps the bbox may still miss it; a line whose box lies inside needs no exact
    -- test: @). NULL binds mean "no bbox".
    (CAST(:e1_xmin AS float8) IS NULL
         OR (s.geom && ST_MakeEnvelope(:e1_xmin, :e1_ymin, :e1_xmax, :e1_ymax, 4326)
             AND (s.geom @ ST_MakeEnvelope(:e1_xmin, :e1_ymin, :e1_xmax, :e1_ymax, 4326)
                  OR ST_Intersects(s.geom, ST_MakeEnvelope(:e1_xmin, :e1_ymin, :e1_xmax, :e1_ymax, 4326))))
         OR (CAST(:e2_xmin AS float8) IS NOT NULL
             AND s.geom && ST_MakeEnvelope(:e2_xmin, :e2_ymin, :e2_xmax, :e2_ymax, 4326)
             AND (s.geom @ ST_MakeEnvelope(:e2_xmin, :e2_ymin, :e2_xmax, :e2_ymax, 4326)
                  OR ST_Intersects(s.geom, ST_MakeEnvelope(:e2_xmin, :e2_ymin, :e2_xmax, :e2_ymax, 4326)))))

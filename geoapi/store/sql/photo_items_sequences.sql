        -- The sequences whose photos a photos items query may match, on a sequences row
        -- aliased "s" (feature_photos.sql and feature_count_photos.sql): the shared property
        -- filters, the bbox on the line (its box holds every photo), the CQL2 filter's
        -- spatial terms on the line (region cql_sequences) and one sequence's id.
/*@include sequence_filters*/
        AND (CAST(:e1_xmin AS float8) IS NULL
             OR s.geom && ST_MakeEnvelope(:e1_xmin, :e1_ymin, :e1_xmax, :e1_ymax, 4326)
             OR (CAST(:e2_xmin AS float8) IS NOT NULL
                 AND s.geom && ST_MakeEnvelope(:e2_xmin, :e2_ymin, :e2_xmax, :e2_ymax, 4326)))
        /*@cql_sequences*//*@end*/
        AND (CAST(:sequence_id AS uuid) IS NULL OR s.id = CAST(:sequence_id AS uuid))

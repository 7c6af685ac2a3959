    -- The sequences an items query matches, on a sequences row aliased "s" (paged by
    -- feature_sequences.sql, counted by feature_count_sequences.sql): the shared property
    -- filters, the bbox, a CQL2 filter (region cql) and one item's id.
/*@include sequence_filters*/
    AND
/*@include sequence_bbox*/
    /*@cql*//*@end*/
    AND (CAST(:item_id AS uuid) IS NULL OR s.id = CAST(:item_id AS uuid))

-- Sequence Features (GeoJSON text built here) in keyset order: published only, the shared
-- property filters, the bbox (sequence_bbox.sql), a CQL2 filter (its SQL compiled by
-- geoapi.store.cql from whitelisted columns, every value a bind), and "after" the cursor.
-- Regions /*@name*/.../*@end*/ hold the defaults that geoapi.store.features replaces: the
-- filter, and for a sortby the keyset condition, the order and the sort key values (sk).
-- NULL binds mean "no such condition".
SELECT s.id AS k1, 0 AS k2, /*@sortkeys*/NULL::text/*@end*/ AS sk,
/*@include sequence_feature*/ AS feature
FROM sequences s
JOIN users u ON u.id = s.owner_id
LEFT JOIN transport_types tt ON tt.id = s.transport_type_id
LEFT JOIN transport_types tp ON tp.id = tt.parent_id
WHERE
/*@include sequence_items_match*/
    /*@after*/AND (CAST(:after_k1 AS uuid) IS NULL OR s.id > CAST(:after_k1 AS uuid))/*@end*/
ORDER BY /*@order*/s.id/*@end*/
LIMIT :limit

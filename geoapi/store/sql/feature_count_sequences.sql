-- How many sequences an items query matches (feature_sequences.sql without paging), for
-- numberMatched; run under the count's own statement timeout (geoapi.store.counts).
SELECT count(*)
FROM sequences s
JOIN users u ON u.id = s.owner_id
LEFT JOIN transport_types tt ON tt.id = s.transport_type_id
LEFT JOIN transport_types tp ON tp.id = tt.parent_id
WHERE
/*@include sequence_items_match*/

-- Photo Features (GeoJSON text built here) in keyset order (sequence_id, position): photos of
-- published sequences matching the shared property filters. The bbox first finds sequences
-- (their line's box holds every photo) on the indexed 4326 geom, in id order; for each, the
-- LATERAL walks its photos in position order on the (sequence_id, position) index and keeps
-- those inside the bbox (&& on a point is exact), so a page stops after LIMIT rows and a deep
-- page costs what the first does. The outer ORDER BY names only s.id: a LATERAL join is a
-- nested loop, which emits each sequence's photos in the inner's position order; asking for
-- (s.id, position) instead makes the planner sort every matching photo before the LIMIT.
-- OFFSET 0 fences keep the planner from trading this plan for a photos-wide GiST scan.
-- captured_at is the photo's, else its sequence's. Regions /*@name*/.../*@end*/ are replaced
-- by geoapi.store.features: a CQL2 filter (on the photo row, and its spatial terms' boxes on
-- the sequence lines), and for a sortby the keyset condition, the order and the sort keys;
-- a sorted page drops the keyset walk (the after_* regions) and sorts what matches.
SELECT s.id AS k1, p.position AS k2, /*@sortkeys*/NULL::text/*@end*/ AS sk,
/*@include photo_feature*/ AS feature
FROM (
    SELECT s.id, s.pano, s.captured_at
    FROM sequences s
    WHERE
/*@include photo_items_sequences*/
        /*@after_sequences*/AND (CAST(:after_k1 AS uuid) IS NULL OR s.id >= CAST(:after_k1 AS uuid))/*@end*/
    ORDER BY s.id
    OFFSET 0
) s
CROSS JOIN LATERAL (
    SELECT ph.id, ph.position, ph.image_key, ph.ca, ph.geom, ph.geom_3857,
           COALESCE(ph.captured_at, s.captured_at) AS captured_at
    FROM photos ph
    WHERE ph.sequence_id = s.id
      /*@after_photos*/AND (CAST(:after_k1 AS uuid) IS NULL OR s.id > CAST(:after_k1 AS uuid)
           OR ph.position > CAST(:after_k2 AS integer))/*@end*/
    ORDER BY ph.position
    OFFSET 0
) p
WHERE
/*@include photo_items_match*/
  /*@after*//*@end*/
ORDER BY /*@order*/s.id/*@end*/
LIMIT :limit

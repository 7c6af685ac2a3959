    -- A photo Feature's GeoJSON text (row "p" of sequence "s"), as sequence_feature.sql.
    '{"type":"Feature","id":"' || p.id::text || '","geometry":'
       || ST_AsGeoJSON(CASE CAST(:out_crs AS integer)
                           WHEN 3857 THEN p.geom_3857
                           WHEN 4326 THEN ST_FlipCoordinates(p.geom)
                           ELSE p.geom END,
                       CAST(:geom_digits AS integer))
       || ',"properties":'
       || CASE WHEN CAST(:keep AS text[]) IS NULL THEN
/*@include photo_properties*/::text
          ELSE (SELECT COALESCE(json_object_agg(e.key, e.value), '{}'::json)
                FROM json_each(
/*@include photo_properties*/) e
                WHERE e.key = ANY(CAST(:keep AS text[])))::text END
       || '}'

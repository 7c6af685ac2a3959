    -- A sequence Feature's GeoJSON text (row "s", users "u", transport types "tt"/"tp"): the
    -- geometry in the requested CRS (out_crs 0: as stored, lon/lat; 4326: latitude first;
    -- 3857: the stored Web Mercator copy) and only the properties asked for (keep NULL: all).
    -- Both binds are constants, so the planner folds each CASE to one branch.
    '{"type":"Feature","id":"' || s.id::text || '","geometry":'
       || ST_AsGeoJSON(CASE CAST(:out_crs AS integer)
                           WHEN 3857 THEN s.geom_3857
                           WHEN 4326 THEN ST_FlipCoordinates(s.geom)
                           ELSE s.geom END,
                       CAST(:geom_digits AS integer))
       || ',"properties":'
       || CASE WHEN CAST(:keep AS text[]) IS NULL THEN
/*@include sequence_properties*/::text
          ELSE (SELECT COALESCE(json_object_agg(e.key, e.value), '{}'::json)
                FROM json_each(
/*@include sequence_properties*/) e
                WHERE e.key = ANY(CAST(:keep AS text[])))::text END
       || '}'

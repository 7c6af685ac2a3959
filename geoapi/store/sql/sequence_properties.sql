    -- The properties object of a sequence row "s" (users "u", transport types "tt"/"tp").
    json_build_object(
           'title', s.title,
           'description', s.description,
           'transport_type', tt.name,
           'transport_type_parent', tp.name,
           'tags', ARRAY(SELECT t.name FROM sequence_tags st JOIN tags t ON t.id = st.tag_id
                         WHERE st.sequence_id = s.id ORDER BY t.name),
           'camera_make', s.camera_make,
           'captured_at', to_char(s.captured_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'created_at', to_char(s.mapillary_created_at AT TIME ZONE 'UTC',
                                 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'mapillary_key', s.mapillary_key,
           'username', u.username,
           'pano', s.pano,
           'photo_count', s.photo_count,
           'length_m', round(s.length_m::numeric, 1),
           'like_count', s.like_count
       )

    -- The properties object of a photo row "p" of the sequence row "s".
    json_build_object(
           'image_key', p.image_key,
           'ca', p.ca,
           'sequence_id', s.id,
           'position', p.position,
           'captured_at', to_char(p.captured_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'pano', s.pano
       )

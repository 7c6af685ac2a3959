-- The sequences of a batch's keys that exist already (the bulk writer stages only the others).
SELECT mapillary_key AS key, id, owner_id
FROM sequences
WHERE mapillary_key = ANY(CAST(:keys AS text[]))

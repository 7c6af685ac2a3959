-- Appended to sequence_select.sql: a tour's published sequences in tour order, for exports.
JOIN tour_sequences tsx ON tsx.sequence_id = s.id
WHERE tsx.tour_id = CAST(:tour_id AS uuid) AND s.status = 'published'
ORDER BY tsx.position

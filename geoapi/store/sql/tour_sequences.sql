-- A tour's sequences in tour order, those :viewer_id may see.
SELECT s.id, s.title, s.photo_count, s.length_m, s.captured_at, s.status
FROM tour_sequences ts
JOIN sequences s ON s.id = ts.sequence_id
WHERE ts.tour_id = CAST(:tour_id AS uuid)
  AND (s.status = 'published' OR s.owner_id = CAST(:viewer_id AS uuid))
ORDER BY ts.position

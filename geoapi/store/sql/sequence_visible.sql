-- One sequence by id, hidden when it is a draft and the viewer is not its owner.
WHERE s.id = CAST(:sequence_id AS uuid)
  AND (s.status = 'published' OR s.owner_id = CAST(:viewer_id AS uuid))

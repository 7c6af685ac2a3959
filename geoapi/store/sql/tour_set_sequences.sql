-- Fill a tour's ordered list (the caller has locked the tour, emptied its list and checked
-- every sequence). Positions are the array order, 0..n-1.
INSERT INTO tour_sequences (tour_id, sequence_id, position)
SELECT CAST(:tour_id AS uuid), x.sequence_id, CAST(x.ord - 1 AS integer)
FROM unnest(CAST(:sequence_ids AS uuid[])) WITH ORDINALITY AS x (sequence_id, ord)

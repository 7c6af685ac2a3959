-- Close the gaps in the given tours so their positions are dense again (0..n-1, same order).
-- The (tour_id, position) unique constraint is deferred, so the shift happens in one statement.
UPDATE tour_sequences ts SET position = r.position
FROM (
    SELECT tour_id, sequence_id,
           CAST(row_number() OVER (PARTITION BY tour_id ORDER BY position) - 1 AS integer) AS position
    FROM tour_sequences
    WHERE tour_id = ANY(CAST(:tour_ids AS uuid[]))
) r
WHERE ts.tour_id = r.tour_id AND ts.sequence_id = r.sequence_id AND ts.position <> r.position

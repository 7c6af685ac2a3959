-- A tour as the API shows it (tours aliased "t"); the caller appends the WHERE clause.
-- Totals count only the sequences :viewer_id may see (others' drafts stay invisible).
SELECT t.id, t.owner_id, u.username, t.title, t.description, t.created_at, t.updated_at,
       ARRAY(SELECT tg.name FROM tour_tags tt JOIN tags tg ON tg.id = tt.tag_id
             WHERE tt.tour_id = t.id ORDER BY tg.name) AS tags,
       agg.sequence_count, agg.total_length_m, agg.total_photo_count
FROM tours t
JOIN users u ON u.id = t.owner_id
CROSS JOIN LATERAL (
    SELECT CAST(count(*) AS integer) AS sequence_count,
           COALESCE(sum(s.length_m), 0) AS total_length_m,
           CAST(COALESCE(sum(s.photo_count), 0) AS integer) AS total_photo_count
    FROM tour_sequences ts JOIN sequences s ON s.id = ts.sequence_id
    WHERE ts.tour_id = t.id
      AND (s.status = 'published' OR s.owner_id = CAST(:viewer_id AS uuid))
) agg

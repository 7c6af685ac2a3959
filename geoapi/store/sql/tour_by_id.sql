-- Appended to tour_select.sql: one tour by id.
WHERE t.id = CAST(:tour_id AS uuid)

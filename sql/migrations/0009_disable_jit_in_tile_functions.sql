-- The tile structures' functions (migration 0008) never JIT-compile. Their plans hold
-- set-returning functions (generate_series over tile ranges) whose default row estimates
-- make a one-sequence call look like millions of rows, so on a connection with PostgreSQL's
-- default jit = on (psql, a bulk loader, anything that is not geoapi's own pool, which sets
-- jit = off) every write of a sequence spent ~600 ms compiling a plan that runs in 1 ms.
ALTER FUNCTION line_tiles_add(uuid[]) SET jit = off;
ALTER FUNCTION overview_cells_offer(uuid[]) SET jit = off;
ALTER FUNCTION overview_cells_rechoose(uuid[]) SET jit = off;
ALTER FUNCTION apply_pending_tile_work(bigint) SET jit = off;
ALTER FUNCTION tiles_sequences_inserted() SET jit = off;
ALTER FUNCTION tiles_sequences_updated() SET jit = off;
ALTER FUNCTION tiles_sequences_deleted() SET jit = off;
ALTER FUNCTION tiles_sequence_tags_changed() SET jit = off;

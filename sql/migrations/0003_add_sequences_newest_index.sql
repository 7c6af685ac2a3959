-- GET /api/v1/sequences lists published sequences newest captured first, undated ones last
-- (NULL sorts as -infinity), tie-broken by id; this index serves that order and its keyset
-- cursor, so a page reads a few index entries instead of sorting the whole table.
CREATE INDEX sequences_newest_idx
    ON sequences ((COALESCE(captured_at, '-infinity'::timestamptz)) DESC, id DESC)
    WHERE status = 'published';

-- One items page in one row. The inner query (feature_sequences/photos.sql) is run with
-- LIMIT page_limit + 1: the extra row only tells whether a next page exists. Returns the
-- page's features comma-joined in keyset order, how many, whether more follow, and the last
-- row's keyset (for the next cursor).
SELECT count(*) FILTER (WHERE q.n <= :page_limit) AS returned,
       count(*) > :page_limit AS more,
       COALESCE(string_agg(q.feature, ',' ORDER BY q.n) FILTER (WHERE q.n <= :page_limit), '')
           AS features,
       max(q.k1::text) FILTER (WHERE q.n = :page_limit) AS last_k1,
       max(q.k2) FILTER (WHERE q.n = :page_limit) AS last_k2
FROM (
    SELECT i.k1, i.k2, i.feature, row_number() OVER (ORDER BY i.k1, i.k2) AS n
    FROM (
/*ITEMS*/
    ) i
) q

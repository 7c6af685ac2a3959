-- One items page in one row: the features comma-joined in keyset order, how many, and the
-- last row's keyset (for the next cursor). The inner query is feature_sequences/photos.sql.
SELECT count(*) AS returned,
       COALESCE(string_agg(q.feature, ',' ORDER BY q.k1, q.k2), '') AS features,
       (array_agg(q.k1 ORDER BY q.k1 DESC, q.k2 DESC))[1] AS last_k1,
       (array_agg(q.k2 ORDER BY q.k1 DESC, q.k2 DESC))[1] AS last_k2
FROM (
/*ITEMS*/
) q

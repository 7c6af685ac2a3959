-- Tags used by published sequences with how many use each, most used first; optional prefix.
-- :prefix holds only [a-z0-9-] (validated), so it carries no LIKE wildcards.
SELECT t.name, CAST(count(*) AS integer) AS count
FROM tags t
JOIN sequence_tags st ON st.tag_id = t.id
JOIN sequences s ON s.id = st.sequence_id AND s.status = 'published'
WHERE CAST(:prefix AS text) IS NULL OR t.name LIKE CAST(:prefix AS text) || '%'
GROUP BY t.name
ORDER BY count(*) DESC, t.name
LIMIT :limit

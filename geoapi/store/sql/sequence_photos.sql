-- The photos of one sequence in capture order, for exports: lon/lat as stored (SRID 4326).
SELECT p.image_key, p.ca, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
FROM photos p
WHERE p.sequence_id = CAST(:sequence_id AS uuid)
ORDER BY p.position

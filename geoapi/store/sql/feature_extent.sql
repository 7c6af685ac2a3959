-- Spatial and temporal extent of the published data (photos lie on their sequences' lines, so
-- one extent serves both collections), and the data version it was computed at.
SELECT ST_XMin(x.e) AS xmin, ST_YMin(x.e) AS ymin, ST_XMax(x.e) AS xmax, ST_YMax(x.e) AS ymax,
       x.tmin, x.tmax
FROM (
    SELECT ST_Extent(geom) AS e, min(captured_at) AS tmin, max(captured_at) AS tmax
    FROM sequences WHERE status = 'published'
) x

-- A bulk load into an empty photos table drops its spatial indexes (no constraint needs them)
-- and builds them at its end (photo_indexes_build.sql; geoapi/store/bulkload.py).
DROP INDEX IF EXISTS photos_geom_idx;
DROP INDEX IF EXISTS photos_geom_3857_idx;

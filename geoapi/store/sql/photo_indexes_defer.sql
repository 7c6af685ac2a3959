-- A bulk load into an empty photos table drops the indexes no constraint needs (bbox queries'
-- GiST and the photo tiles' (thin, tx17, ty17)) and builds them at its end
-- (photo_indexes_build.sql; geoapi/store/bulkload.py).
DROP INDEX IF EXISTS photos_geom_idx;
DROP INDEX IF EXISTS photos_tile_idx;

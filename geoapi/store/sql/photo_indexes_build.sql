-- The photo indexes a bulk load defers, exactly as the migrations make them (a test compares
-- the two), one statement each: geoapi.store.bulkload builds the missing ones in parallel.
CREATE INDEX IF NOT EXISTS photos_geom_idx ON photos USING gist (geom);
CREATE INDEX IF NOT EXISTS photos_tile_idx ON photos (thin, tx17, ty17);

-- Structures that bound a tile's cost by what it shows, not by the size of the data, and
-- version tiles by area (geoapi/store/sql/tile_mvt.sql and tile_version.sql read them; issue 13).
--
-- * line_tiles (z6-16): per tile, the published sequences whose line touches the tile (with
--   its 64/4096 buffer), in the order a tile keeps them (newest first), so a tile reads at most
--   as many as its byte budget can hold. Insert-only rows, kept by statement triggers on
--   sequences as the writes happen (concurrent writers never wait for each other on them).
-- * overview_cells (z0-5): per zoom and per overview cell (a pixel of a 256-pixel tile, so a
--   tile covers 256 x 256 cells), the newest published sequence whose overview point is in it.
-- * tile_areas (z0-8): the data version of the last commit that changed what the tiles of each
--   area show (a tile deeper than 8 has its z8 ancestor's); z = -1 is a floor under every area
--   (writes that change every tile: usernames, transport types, TRUNCATE).
--   Both are kept at commit, in the committing transaction, by the at-commit step of 0006
--   (apply_pending_tile_work, from the work the statement triggers queue in
--   pending_tile_work): their rows are shared by writers of one area, so they are locked only
--   from one writer's commit to its end, in key order, and get the version the commit gets.
-- * sequences.geom_z8 / geom_z11 / geom_z13: the line in SRID 3857 simplified to a pixel (of a
--   512-pixel tile) at zoom 8, 11 and 13, the geometry the tiles of z6-8, z9-11 and z12-13 draw.
-- * photos.thin, tx17, ty17: the photo's thinning class (the number of times 2 divides its
--   position, at most 7; a tile keeps the classes from some j up, i.e. every 2^j-th photo of
--   each sequence) and its z17 tile column and row, indexed together so a photo tile reads only
--   the photos it keeps.

-- Tile grid arithmetic in SRID 3857 (the Web Mercator square of half-width 20037508.34 m).
CREATE FUNCTION tile_grid_column(x float8, level integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(greatest(floor((x + 20037508.342789244) / (40075016.685578488 / (2 ^ level))),
                          0), 2 ^ level - 1)::integer
$$;
CREATE FUNCTION tile_grid_row(y float8, level integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(greatest(floor((20037508.342789244 - y) / (40075016.685578488 / (2 ^ level))),
                          0), 2 ^ level - 1)::integer
$$;

-- Photos: thinning class and z17 tile. The z17 column and row come from the longitude and
-- latitude (Mercator x is linear in longitude; y is the Mercator formula), so no transform.
ALTER TABLE photos
    ADD COLUMN thin smallint NOT NULL GENERATED ALWAYS AS (
        CASE WHEN position % 128 = 0 THEN 7 WHEN position % 64 = 0 THEN 6
             WHEN position % 32 = 0 THEN 5 WHEN position % 16 = 0 THEN 4
             WHEN position % 8 = 0 THEN 3 WHEN position % 4 = 0 THEN 2
             WHEN position % 2 = 0 THEN 1 ELSE 0 END) STORED,
    ADD COLUMN tx17 integer NOT NULL GENERATED ALWAYS AS (
        least(greatest(floor((ST_X(geom) + 180.0) / 360.0 * 131072), 0), 131071)::integer) STORED,
    ADD COLUMN ty17 integer NOT NULL GENERATED ALWAYS AS (
        least(greatest(floor((1.0 - ln(tan(radians(least(greatest(ST_Y(geom), -85.0511287798),
                                                           85.0511287798)))
                                       + 1.0 / cos(radians(least(greatest(ST_Y(geom),
                                                                          -85.0511287798),
                                                                 85.0511287798)))) / pi())
                             / 2.0 * 131072), 0), 131071)::integer) STORED;
-- Photo tiles read by (class, column, row); the GiST on geom_3857 was theirs only.
CREATE INDEX photos_tile_idx ON photos (thin, tx17, ty17);
DROP INDEX photos_geom_3857_idx;

-- Sequences: the generalised lines (tolerance: a 512th of a tile's width at the zoom).
ALTER TABLE sequences
    ADD COLUMN geom_z8 geometry(LineString, 3857) GENERATED ALWAYS AS (
        ST_Simplify(ST_Transform(geom, 3857), 305.74811309, true)) STORED,
    ADD COLUMN geom_z11 geometry(LineString, 3857) GENERATED ALWAYS AS (
        ST_Simplify(ST_Transform(geom, 3857), 38.21851414, true)) STORED,
    ADD COLUMN geom_z13 geometry(LineString, 3857) GENERATED ALWAYS AS (
        ST_Simplify(ST_Transform(geom, 3857), 9.55462853, true)) STORED;

CREATE TABLE overview_cells (
    z           smallint NOT NULL CHECK (z BETWEEN 0 AND 5),
    cy          integer NOT NULL,
    cx          integer NOT NULL,
    sequence_id uuid NOT NULL,
    captured_at timestamptz,
    pano        boolean NOT NULL,
    geom        geometry(Point, 3857) NOT NULL,
    PRIMARY KEY (z, cy, cx)
);
CREATE INDEX overview_cells_sequence_idx ON overview_cells (sequence_id);

CREATE TABLE tile_areas (
    z        smallint NOT NULL CHECK (z BETWEEN -1 AND 8),
    x        integer NOT NULL,
    y        integer NOT NULL,
    version  bigint NOT NULL,
    PRIMARY KEY (z, x, y)
);

-- What a transaction's writes change, for its at-commit step: extents (SRID 3857) whose areas
-- get the commit's version, sequences to offer to their overview cells, sequences whose cells
-- are to be chosen again. Unlogged: it only ever holds the work of transactions in flight.
CREATE UNLOGGED TABLE pending_tile_work (
    txid        bigint NOT NULL DEFAULT txid_current(),
    sequence_id uuid,
    offer       boolean NOT NULL DEFAULT false,
    rechoose    boolean NOT NULL DEFAULT false,
    everywhere  boolean NOT NULL DEFAULT false,
    west        float8,
    south       float8,
    east        float8,
    north       float8
);
CREATE INDEX pending_tile_work_txid_idx ON pending_tile_work (txid);

CREATE TABLE line_tiles (
    z           smallint NOT NULL CHECK (z BETWEEN 6 AND 16),
    x           integer NOT NULL,
    y           integer NOT NULL,
    captured_at timestamptz,
    sequence_id uuid NOT NULL
);
CREATE UNIQUE INDEX line_tiles_order_idx
    ON line_tiles (z, x, y, captured_at DESC NULLS LAST, sequence_id);
CREATE INDEX line_tiles_sequence_idx ON line_tiles (sequence_id);

-- The candidates of the overview cells, from sequence rows: (z, cy, cx) of each row's point.
CREATE FUNCTION overview_candidates(ids uuid[])
RETURNS TABLE (z smallint, cy integer, cx integer, sequence_id uuid, captured_at timestamptz,
               pano boolean, geom geometry)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (zz.z, c.cy, c.cx) zz.z::smallint, c.cy, c.cx, s.id, s.captured_at,
           s.pano, s.overview_3857
    FROM sequences s
    CROSS JOIN generate_series(0, 5) AS zz(z)
    CROSS JOIN LATERAL (
        SELECT tile_grid_row(ST_Y(s.overview_3857), zz.z + 8) AS cy,
               tile_grid_column(ST_X(s.overview_3857), zz.z + 8) AS cx
    ) c
    WHERE s.id = ANY(ids) AND s.status = 'published' AND s.overview_3857 IS NOT NULL
    ORDER BY zz.z, c.cy, c.cx, s.captured_at DESC NULLS LAST, s.id
$$;

-- Offer sequences to their cells: each takes a cell that is empty or holds an older one.
CREATE FUNCTION overview_cells_offer(ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO overview_cells AS o (z, cy, cx, sequence_id, captured_at, pano, geom)
    SELECT * FROM overview_candidates(ids)
    ON CONFLICT (z, cy, cx) DO UPDATE
        SET sequence_id = EXCLUDED.sequence_id, captured_at = EXCLUDED.captured_at,
            pano = EXCLUDED.pano, geom = EXCLUDED.geom
        WHERE (EXCLUDED.captured_at IS NOT NULL AND o.captured_at IS NULL)
           OR EXCLUDED.captured_at > o.captured_at
           OR (EXCLUDED.captured_at IS NOT DISTINCT FROM o.captured_at
               AND EXCLUDED.sequence_id < o.sequence_id)
$$;

-- Cells whose sequence left (deleted, unpublished, moved, redated) are emptied, and the newest
-- published sequence still in each is offered to it again.
CREATE FUNCTION overview_cells_rechoose(ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    cell record;
    best uuid;
    offered uuid[] := '{}';
BEGIN
    FOR cell IN DELETE FROM overview_cells WHERE sequence_id = ANY(ids) RETURNING z, cy, cx LOOP
        SELECT s.id INTO best
        FROM sequences s,
             LATERAL (SELECT 40075016.685578488 / (2 ^ (cell.z + 8)) AS size) g
        WHERE s.status = 'published'
          AND s.overview_3857 && ST_MakeEnvelope(
                  -20037508.342789244 + cell.cx * g.size,
                  20037508.342789244 - (cell.cy + 1) * g.size,
                  -20037508.342789244 + (cell.cx + 1) * g.size,
                  20037508.342789244 - cell.cy * g.size, 3857)
          AND tile_grid_row(ST_Y(s.overview_3857), cell.z + 8) = cell.cy
          AND tile_grid_column(ST_X(s.overview_3857), cell.z + 8) = cell.cx
        ORDER BY s.captured_at DESC NULLS LAST, s.id
        LIMIT 1;
        IF best IS NOT NULL THEN
            offered := offered || best;
        END IF;
    END LOOP;
    -- Offered to all its cells: where another holds a cell it is the newest there already.
    IF cardinality(offered) > 0 THEN
        PERFORM overview_cells_offer(offered);
    END IF;
END
$$;

-- The tiles of a zoom a box reaches with the tiles' buffer (a 64th of a tile) around it.
CREATE FUNCTION line_tile_range(xmin float8, ymin float8, xmax float8, ymax float8, z integer,
                                OUT x0 integer, OUT x1 integer, OUT y0 integer, OUT y1 integer,
                                OUT pad float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT tile_grid_column(xmin - p.pad, z), tile_grid_column(xmax + p.pad, z),
           tile_grid_row(ymax + p.pad, z), tile_grid_row(ymin - p.pad, z), p.pad
    FROM (SELECT 40075016.685578488 / (2 ^ z) / 64 AS pad) p
$$;

-- The tiles of z6-16 each published sequence's line touches, buffer included (64 of 4096
-- units beyond each edge, as the tiles draw), zoom by zoom: a tile's buffered area lies inside
-- its parent's, so only the children of the tiles touched at one zoom are tried at the next,
-- and none is tried where the line's buffered box falls in one tile of that zoom.
CREATE FUNCTION line_tiles_add(ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    WITH RECURSIVE lines AS (
        SELECT s.id, s.captured_at, s.geom_3857 AS geom, ST_XMin(s.geom_3857) AS xmin,
               ST_XMax(s.geom_3857) AS xmax, ST_YMin(s.geom_3857) AS ymin,
               ST_YMax(s.geom_3857) AS ymax
        FROM sequences s
        WHERE s.id = ANY(ids) AND s.status = 'published' AND s.geom_3857 IS NOT NULL
    ), touched (id, z, x, y) AS (
        SELECT l.id, 6, tx.x, ty.y
        FROM lines l
        CROSS JOIN LATERAL line_tile_range(l.xmin, l.ymin, l.xmax, l.ymax, 6) r
        CROSS JOIN LATERAL generate_series(r.x0, r.x1) AS tx(x)
        CROSS JOIN LATERAL generate_series(r.y0, r.y1) AS ty(y)
        WHERE (r.x0 = r.x1 AND r.y0 = r.y1)
           OR ST_Intersects(l.geom, ST_Expand(ST_TileEnvelope(6, tx.x, ty.y), r.pad))
      UNION ALL
        SELECT t.id, t.z + 1, c.x, c.y
        FROM touched t
        JOIN lines l ON l.id = t.id
        CROSS JOIN LATERAL line_tile_range(l.xmin, l.ymin, l.xmax, l.ymax, t.z + 1) r
        CROSS JOIN LATERAL (VALUES (2 * t.x, 2 * t.y), (2 * t.x + 1, 2 * t.y),
                                   (2 * t.x, 2 * t.y + 1), (2 * t.x + 1, 2 * t.y + 1)) AS c(x, y)
        WHERE t.z < 16
          AND c.x BETWEEN r.x0 AND r.x1 AND c.y BETWEEN r.y0 AND r.y1
          AND ((r.x0 = r.x1 AND r.y0 = r.y1)
               OR ST_Intersects(l.geom, ST_Expand(ST_TileEnvelope(t.z + 1, c.x, c.y), r.pad)))
    )
    INSERT INTO line_tiles (z, x, y, captured_at, sequence_id)
    SELECT t.z, t.x, t.y, l.captured_at, t.id FROM touched t JOIN lines l ON l.id = t.id
$$;

CREATE FUNCTION tiles_sequences_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[] := ARRAY(SELECT id FROM new_rows WHERE status = 'published');
BEGIN
    IF cardinality(ids) > 0 THEN
        PERFORM line_tiles_add(ids);
        INSERT INTO pending_tile_work (sequence_id, offer, west, south, east, north)
        SELECT id, true, ST_XMin(geom_3857), ST_YMin(geom_3857), ST_XMax(geom_3857),
               ST_YMax(geom_3857)
        FROM new_rows WHERE status = 'published' AND geom_3857 IS NOT NULL;
        PERFORM set_config('geoapi.tile_work', 'on', true);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tiles_sequences_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    -- What the tiles draw (0006's list of columns): likes, titles and the like change none.
    shown uuid[] := ARRAY(
        SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.owner_id, n.mapillary_key, n.captured_at, n.pano, n.transport_type_id,
               n.status, n.camera_make)
              IS DISTINCT FROM (o.owner_id, o.mapillary_key, o.captured_at, o.pano,
                                o.transport_type_id, o.status, o.camera_make)
           OR (n.geom IS NULL) <> (o.geom IS NULL)
           OR NOT ST_OrderingEquals(n.geom, o.geom));
    -- What the tile structures hold: the line, its order, its point and whether it shows.
    held uuid[] := ARRAY(
        SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.status, n.captured_at, n.pano) IS DISTINCT FROM (o.status, o.captured_at, o.pano)
           OR (n.geom IS NULL) <> (o.geom IS NULL)
           OR NOT ST_OrderingEquals(n.geom, o.geom));
BEGIN
    IF cardinality(shown) = 0 THEN
        RETURN NULL;
    END IF;
    IF cardinality(held) > 0 THEN
        DELETE FROM line_tiles WHERE sequence_id = ANY(held);
        PERFORM line_tiles_add(held);
    END IF;
    INSERT INTO pending_tile_work (sequence_id, rechoose, west, south, east, north)
    SELECT id, id = ANY(held), ST_XMin(geom_3857), ST_YMin(geom_3857), ST_XMax(geom_3857),
           ST_YMax(geom_3857)
    FROM old_rows WHERE id = ANY(shown) AND geom_3857 IS NOT NULL;
    INSERT INTO pending_tile_work (sequence_id, offer, west, south, east, north)
    SELECT id, id = ANY(held) AND status = 'published', ST_XMin(geom_3857), ST_YMin(geom_3857),
           ST_XMax(geom_3857), ST_YMax(geom_3857)
    FROM new_rows WHERE id = ANY(shown) AND geom_3857 IS NOT NULL;
    PERFORM set_config('geoapi.tile_work', 'on', true);
    RETURN NULL;
END
$$;

CREATE FUNCTION tiles_sequences_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM line_tiles WHERE sequence_id = ANY(ARRAY(SELECT id FROM old_rows));
    INSERT INTO pending_tile_work (sequence_id, rechoose, west, south, east, north)
    SELECT id, true, ST_XMin(geom_3857), ST_YMin(geom_3857), ST_XMax(geom_3857),
           ST_YMax(geom_3857)
    FROM old_rows;
    PERFORM set_config('geoapi.tile_work', 'on', true);
    RETURN NULL;
END
$$;

-- Tags filter tiles: a tag change changes the areas of its sequences.
CREATE FUNCTION tiles_sequence_tags_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pending_tile_work (west, south, east, north)
    SELECT ST_XMin(s.geom_3857), ST_YMin(s.geom_3857), ST_XMax(s.geom_3857), ST_YMax(s.geom_3857)
    FROM sequences s
    WHERE s.geom_3857 IS NOT NULL AND s.id IN (SELECT sequence_id FROM changed_rows);
    PERFORM set_config('geoapi.tile_work', 'on', true);
    RETURN NULL;
END
$$;

-- Writes that change every tile (names shown in all of them; emptied tables).
CREATE FUNCTION tiles_everywhere() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND TG_TABLE_NAME = 'sequences' THEN
        TRUNCATE line_tiles, overview_cells;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        -- 0006 moves the version at the TRUNCATE itself, not at commit: the floor takes it now.
        INSERT INTO tile_areas (z, x, y, version)
        SELECT -1, 0, 0, version FROM data_version
        ON CONFLICT (z, x, y) DO UPDATE SET version = EXCLUDED.version;
    ELSE
        INSERT INTO pending_tile_work (everywhere) VALUES (true);
        PERFORM set_config('geoapi.tile_work', 'on', true);
    END IF;
    RETURN NULL;
END
$$;

-- The at-commit step: the areas the transaction changed get its version ``v``, overview cells
-- are chosen again and offered, and the queued work is gone. Rows in key order, so two
-- committers sharing areas cannot deadlock.
CREATE FUNCTION apply_pending_tile_work(v bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tx bigint := txid_current();
BEGIN
    IF EXISTS (SELECT 1 FROM pending_tile_work WHERE txid = tx AND everywhere) THEN
        INSERT INTO tile_areas (z, x, y, version) VALUES (-1, 0, 0, v)
        ON CONFLICT (z, x, y) DO UPDATE SET version = EXCLUDED.version;
    END IF;
    INSERT INTO tile_areas (z, x, y, version)
    SELECT DISTINCT zz.z, tx_.x, ty_.y, v
    FROM pending_tile_work p
    CROSS JOIN generate_series(0, 8) AS zz(z)
    CROSS JOIN LATERAL line_tile_range(p.west, p.south, p.east, p.north, zz.z) r
    CROSS JOIN LATERAL generate_series(r.x0, r.x1) AS tx_(x)
    CROSS JOIN LATERAL generate_series(r.y0, r.y1) AS ty_(y)
    WHERE p.txid = tx AND p.west IS NOT NULL
    ORDER BY 1, 2, 3
    ON CONFLICT (z, x, y) DO UPDATE SET version = EXCLUDED.version;
    PERFORM overview_cells_rechoose(ARRAY(
        SELECT DISTINCT sequence_id FROM pending_tile_work
        WHERE txid = tx AND rechoose ORDER BY 1));
    PERFORM overview_cells_offer(ARRAY(
        SELECT DISTINCT sequence_id FROM pending_tile_work WHERE txid = tx AND offer ORDER BY 1));
    DELETE FROM pending_tile_work WHERE txid = tx;
END
$$;

-- 0006's one bump per transaction; it also applies the transaction's queued tile work, with
-- the transaction's version, whenever the statement triggers have queued some since (they set
-- the transaction-local geoapi.tile_work): a TRUNCATE bumps at once, and its transaction may
-- go on writing.
CREATE OR REPLACE FUNCTION bump_data_version_once() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('geoapi.data_version_bumped', true) IS DISTINCT FROM 'on' THEN
        UPDATE data_version SET version = nextval('data_version_seq');
        PERFORM set_config('geoapi.data_version_bumped', 'on', true);
    END IF;
    IF current_setting('geoapi.tile_work', true) = 'on' THEN
        PERFORM set_config('geoapi.tile_work', 'off', true);
        PERFORM apply_pending_tile_work((SELECT version FROM data_version));
    END IF;
END;
$$;

CREATE TRIGGER sequences_tiles_inserted AFTER INSERT ON sequences
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION tiles_sequences_inserted();
CREATE TRIGGER sequences_tiles_updated AFTER UPDATE ON sequences
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION tiles_sequences_updated();
CREATE TRIGGER sequences_tiles_deleted AFTER DELETE ON sequences
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION tiles_sequences_deleted();
CREATE TRIGGER sequences_tiles_truncated AFTER TRUNCATE ON sequences
    FOR EACH STATEMENT EXECUTE FUNCTION tiles_everywhere();
CREATE TRIGGER sequence_tags_tiles_inserted AFTER INSERT ON sequence_tags
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION tiles_sequence_tags_changed();
CREATE TRIGGER sequence_tags_tiles_deleted AFTER DELETE ON sequence_tags
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION tiles_sequence_tags_changed();
CREATE TRIGGER sequence_tags_tiles_truncated AFTER TRUNCATE ON sequence_tags
    FOR EACH STATEMENT EXECUTE FUNCTION tiles_everywhere();
CREATE TRIGGER users_tiles_renamed AFTER UPDATE OF username ON users
    FOR EACH STATEMENT EXECUTE FUNCTION tiles_everywhere();
CREATE TRIGGER transport_types_tiles_changed AFTER INSERT OR UPDATE OR DELETE ON transport_types
    FOR EACH STATEMENT EXECUTE FUNCTION tiles_everywhere();

-- What exists already.
SELECT line_tiles_add(ARRAY(SELECT id FROM sequences WHERE status = 'published'));
SELECT overview_cells_offer(ARRAY(SELECT id FROM sequences WHERE status = 'published'));
INSERT INTO tile_areas (z, x, y, version) SELECT -1, 0, 0, version FROM data_version;

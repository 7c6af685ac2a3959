-- Vector tiles (Mapbox Vector Tile), one statement per tile. The sections below ("-- @cte name",
-- "-- @layer name") are static SQL that geoapi.store.tiles composes per zoom band, so each
-- statement holds (and the planner plans) only its band's layers:
--   z0-5 unfiltered  WITH tile, cells                                  SELECT overview
--   z0-5 filtered    WITH tile                                         SELECT overview_filtered
--   z6-13            WITH tile, seqs, lines, kept                      SELECT sequences
--   z14+             WITH tile, seqs, lines, kept, photo_grid, photo_level, photo_pool,
--                         photo_candidates                             SELECT sequences || photos
-- Binds: :z :x :y; :extent and :buffer (TILE_EXTENT 4096 and TILE_BUFFER 64 of
-- geoapi.tiling); the caps :overview_cap, :sequence_budget (estimated bytes), :line_candidates
-- (the most lines that budget can hold), :photo_cap; the sequence filters
-- (sequence_filters.sql, included on a sequences row aliased "s").
--
-- What a tile reads is bounded by what it shows, not by the data (migration 0008 keeps the
-- structures): the overview reads its own cells (at most 264 x 264); lines are read newest
-- first from their tile's list (line_tiles) and no more than :line_candidates of them, each in
-- the generalised geometry of its zoom band; photos are read by thinning class and z17 tile
-- (photos_tile_idx), counting at most :photo_cap + 1 per class, and then only the classes the
-- tile keeps. Every cap keeps rows in an explicit, total order (newest captured first, then
-- id), so a capped tile is the same bytes every time.

-- @cte tile
tile AS (
    SELECT e.env, u.unit, ST_Expand(e.env, u.unit * :buffer) AS area
    FROM (SELECT ST_TileEnvelope(:z, :x, :y) AS env) e,
         LATERAL (SELECT (ST_XMax(e.env) - ST_XMin(e.env)) / :extent AS unit) u
)

-- @cte cells
cells AS (
    -- z0-5: the overview cells of the buffered tile: 256 x 256 per tile (16 x 16 units each),
    -- and the 4 beyond each edge that its 64-unit buffer reaches.
    SELECT ARRAY(SELECT generate_series(greatest(:y * 256 - 4, 0),
                                        least(:y * 256 + 259, (256 << :z) - 1))) AS rows,
           greatest(:x * 256 - 4, 0) AS cx0, least(:x * 256 + 259, (256 << :z) - 1) AS cx1
)

-- @cte seqs
seqs AS MATERIALIZED (
    -- z6+: the published sequences passing the filters whose line touches the buffered tile,
    -- newest first from the tile's list (a tile deeper than 16 reads its z16 ancestor's list),
    -- no more than could fit the byte budget, each in its zoom band's generalised geometry.
    SELECT s.id, s.mapillary_key, s.captured_at, s.pano, s.owner_id, s.transport_type_id,
           CASE WHEN :z <= 8 THEN s.geom_z8 WHEN :z <= 11 THEN s.geom_z11
                WHEN :z <= 13 THEN s.geom_z13 ELSE s.geom_3857 END AS geom
    FROM line_tiles lt JOIN sequences s ON s.id = lt.sequence_id, tile
    WHERE lt.z = least(:z, 16)
      AND lt.x = (:x >> greatest(:z - 16, 0)) AND lt.y = (:y >> greatest(:z - 16, 0))
      AND (:z <= 16 OR s.geom_3857 && tile.area)
      AND (/*@include sequence_filters*/)
    ORDER BY lt.captured_at DESC NULLS LAST, lt.sequence_id
    LIMIT :line_candidates
)

-- @cte lines
lines AS MATERIALIZED (
    -- Each line simplified to a pixel (of a 512-pixel tile) and snapped to the tile grid; a
    -- line that collapses (a one-photo sequence, or one shorter than a grid unit) becomes a
    -- one-unit line at its start, so that every sequence stays visible at every zoom.
    SELECT seqs.id, seqs.mapillary_key, seqs.captured_at, seqs.pano, seqs.owner_id,
           seqs.transport_type_id,
           COALESCE(
               ST_AsMVTGeom(ST_Simplify(seqs.geom, tile.unit * 8, true),
                            tile.env, :extent, :buffer, true),
               ST_AsMVTGeom(ST_MakeLine(ST_StartPoint(seqs.geom),
                                        ST_Translate(ST_StartPoint(seqs.geom), tile.unit, 0)),
                            tile.env, :extent, :buffer, true)) AS geom
    FROM seqs, tile
)

-- @cte kept
kept AS MATERIALIZED (
    -- The lines the tile keeps: newest first while the estimated size stays within the budget.
    SELECT l.id, l.mapillary_key, l.captured_at, l.pano, l.owner_id, l.transport_type_id, l.geom
    FROM (
        SELECT lines.*, sum(3 * ST_NPoints(lines.geom) + 110) OVER (
                   ORDER BY lines.captured_at DESC NULLS LAST, lines.id
                   ROWS UNBOUNDED PRECEDING) AS spent
        FROM lines
        WHERE lines.geom IS NOT NULL
    ) l
    WHERE l.spent <= :sequence_budget
)

-- @cte photo_grid
photo_grid AS (
    -- z14+: the z17 tile columns and rows the tile covers (for z > 17, the z17 tile holding
    -- it), and those one beyond each edge, which its buffer reaches into.
    SELECT g.c0, g.c1, g.r0, g.r1,
           ARRAY(SELECT generate_series(g.c0, g.c1)) AS cols,
           ARRAY(SELECT generate_series(greatest(g.c0 - 1, 0), least(g.c1 + 1, 131071)))
               AS ring_cols,
           greatest(g.r0 - 1, 0) AS ring_r0, least(g.r1 + 1, 131071) AS ring_r1
    FROM (
        SELECT (:x << greatest(17 - :z, 0)) >> greatest(:z - 17, 0) AS c0,
               (((:x + 1) << greatest(17 - :z, 0)) - 1) >> greatest(:z - 17, 0) AS c1,
               (:y << greatest(17 - :z, 0)) >> greatest(:z - 17, 0) AS r0,
               (((:y + 1) << greatest(17 - :z, 0)) - 1) >> greatest(:z - 17, 0) AS r1
    ) g
)

-- @cte photo_level
photo_level AS MATERIALIZED (
    -- The thinning the tile needs: the lowest class j whose photos, with those of every
    -- class above it, are at most the cap; j = 7 if even class 7 is over. Classes are counted
    -- from 7 down, each no further than the cap, and counting stops at the first class that
    -- brings the total over it: a dense tile reads about cap + 1 index entries, no tile more
    -- than 2 x (cap + 1) beyond what it keeps.
    WITH RECURSIVE counted (c, kept) AS (
        SELECT 7, (SELECT count(*) FROM (
                       SELECT 1 FROM photos p, photo_grid t
                       WHERE p.thin = 7 AND p.tx17 = ANY(t.cols)
                         AND p.ty17 BETWEEN t.r0 AND t.r1
                       LIMIT :photo_cap + 1) q)
      UNION ALL
        SELECT n.c - 1, n.kept + (SELECT count(*) FROM (
                                      SELECT 1 FROM photos p, photo_grid t
                                      WHERE p.thin = n.c - 1 AND p.tx17 = ANY(t.cols)
                                        AND p.ty17 BETWEEN t.r0 AND t.r1
                                      LIMIT :photo_cap + 1) q)
        FROM counted n
        WHERE n.c > 0 AND n.kept <= :photo_cap
    )
    SELECT ARRAY(SELECT generate_series(coalesce(min(counted.c), 7), 7)) AS classes
    FROM counted
    WHERE counted.kept <= :photo_cap
)

-- @cte photo_pool
photo_pool AS MATERIALIZED (
    -- The photos of the kept classes in the buffered tile (by photos_tile_idx: no more than
    -- the classes' counts, so about :photo_cap, whatever the sequences hold elsewhere).
    SELECT p.image_key, p.ca, p.sequence_id, p.position, p.captured_at, p.geom_3857
    FROM photo_level pl, photo_grid t, tile, photos p
    WHERE p.thin = ANY(pl.classes) AND p.tx17 = ANY(t.ring_cols)
      AND p.ty17 BETWEEN t.ring_r0 AND t.ring_r1
      AND p.geom_3857 && tile.area
)

-- @cte photo_candidates
photo_candidates AS MATERIALIZED (
    -- Those whose line the tile keeps, with the line's attributes. The pool and the kept
    -- lines are sorted together by sequence, each photo taking its line's row (a join of the
    -- two would be planned as a nested loop, pool x lines comparisons).
    SELECT u.image_key, u.ca, u.sequence_id, u.position, u.captured_at, u.geom_3857,
           u.sequence_captured_at, u.pano, u.transport_type_id
    FROM (
        SELECT m.image_key, m.ca, m.sequence_id, m.position, m.captured_at, m.geom_3857,
               m.is_line, bool_or(m.is_line) OVER w AS line_kept,
               first_value(m.sequence_captured_at) OVER w AS sequence_captured_at,
               first_value(m.pano) OVER w AS pano,
               first_value(m.transport_type_id) OVER w AS transport_type_id
        FROM (
            SELECT p.image_key, p.ca, p.sequence_id, p.position, p.captured_at, p.geom_3857,
                   false AS is_line, NULL::timestamptz AS sequence_captured_at,
                   NULL::boolean AS pano, NULL::integer AS transport_type_id
            FROM photo_pool p
          UNION ALL
            SELECT NULL, NULL, k.id, NULL, NULL, NULL, true, k.captured_at, k.pano,
                   k.transport_type_id
            FROM kept k
        ) m
        WINDOW w AS (PARTITION BY m.sequence_id ORDER BY m.is_line DESC)
    ) u
    WHERE u.line_kept AND NOT u.is_line
)

-- @layer overview
COALESCE((
    -- z0-5: the newest sequence of each overview cell (a pixel of a 256-pixel tile), at its
    -- stored middle point.
    SELECT ST_AsMVT(q, 'overview', :extent, 'geom') FROM (
        SELECT c.sequence_id::text AS id,
               (extract(epoch FROM c.captured_at) * 1000)::bigint AS captured_at, c.pano,
               ST_AsMVTGeom(c.geom, tile.env, :extent, :buffer, true) AS geom
        FROM overview_cells c, cells, tile
        WHERE c.z = :z AND c.cy = ANY(cells.rows) AND c.cx BETWEEN cells.cx0 AND cells.cx1
        ORDER BY c.captured_at DESC NULLS LAST, c.sequence_id
        LIMIT :overview_cap
    ) q
), ''::bytea)

-- @layer overview_filtered
COALESCE((
    -- z0-5 with filters (the cells hold the newest of all sequences, not of the filtered
    -- ones): the same choice made from the filtered sequences in the tile.
    SELECT ST_AsMVT(q, 'overview', :extent, 'geom') FROM (
        SELECT d.id::text AS id,
               (extract(epoch FROM d.captured_at) * 1000)::bigint AS captured_at, d.pano,
               ST_AsMVTGeom(d.overview_3857, tile.env, :extent, :buffer, true) AS geom
        FROM (
            SELECT DISTINCT ON (c.cy, c.cx) c.id, c.captured_at, c.pano, c.overview_3857
            FROM (
                SELECT s.id, s.captured_at, s.pano, s.overview_3857,
                       tile_grid_row(ST_Y(s.overview_3857), :z + 8) AS cy,
                       tile_grid_column(ST_X(s.overview_3857), :z + 8) AS cx
                FROM sequences s, tile
                WHERE s.overview_3857 && tile.area AND (/*@include sequence_filters*/)
            ) c
            ORDER BY c.cy, c.cx, c.captured_at DESC NULLS LAST, c.id
        ) d, tile
        ORDER BY d.captured_at DESC NULLS LAST, d.id
        LIMIT :overview_cap
    ) q
), ''::bytea)

-- @layer sequences
COALESCE((
    -- z6+: the kept lines.
    SELECT ST_AsMVT(q, 'sequences', :extent, 'geom') FROM (
        SELECT k.id::text AS id, k.mapillary_key,
               (extract(epoch FROM k.captured_at) * 1000)::bigint AS captured_at, k.pano,
               tt.name AS transport_type, u.username, k.geom
        FROM kept k
        JOIN users u ON u.id = k.owner_id
        LEFT JOIN transport_types tt ON tt.id = k.transport_type_id
        ORDER BY k.captured_at DESC NULLS LAST, k.id
    ) q
), ''::bytea)

-- @layer photos
COALESCE((
    -- z14+: the kept photos, with their sequence's transport type (so a client colours them
    -- like their line), the newest sequences' first where the cap cuts.
    SELECT ST_AsMVT(q, 'photos', :extent, 'geom') FROM (
        SELECT c.image_key, c.ca, c.sequence_id::text AS sequence_id, c.position,
               (extract(epoch FROM COALESCE(c.captured_at, c.sequence_captured_at)) * 1000)
                   ::bigint AS captured_at,
               c.pano, tt.name AS transport_type,
               ST_AsMVTGeom(c.geom_3857, tile.env, :extent, :buffer, true) AS geom
        FROM photo_candidates c
        LEFT JOIN transport_types tt ON tt.id = c.transport_type_id, tile
        ORDER BY c.sequence_captured_at DESC NULLS LAST, c.sequence_id, c.position
        LIMIT :photo_cap
    ) q
), ''::bytea)

-- Vector tiles (Mapbox Vector Tile), one statement per tile, over the stored SRID 3857
-- columns. The sections below ("-- @cte name", "-- @layer name") are static SQL that
-- geoapi.store.tiles composes per zoom band, so each statement holds (and the planner plans)
-- only its band's layers:
--   z0-5   WITH tile                             SELECT overview
--   z6-13  WITH tile, seqs, lines                SELECT sequences
--   z14+   WITH tile, seqs, lines, photo_cands   SELECT sequences || photos
-- Binds: :z :x :y; :extent and :buffer (TILE_EXTENT 4096 and TILE_BUFFER 64 of
-- geoapi.store.tiles); the caps :overview_cap, :sequence_budget (estimated bytes), :photo_cap;
-- the sequence filters (sequence_filters.sql, included on a sequences row aliased "s").
-- Every cap keeps rows in an explicit, total order (newest captured first, then id), so a
-- capped tile is the same bytes every time.

-- @cte tile
tile AS (
    SELECT e.env, u.unit, ST_Expand(e.env, u.unit * :buffer) AS area,
           ST_XMin(e.env) AS x0, ST_YMax(e.env) AS y0
    FROM (SELECT ST_TileEnvelope(:z, :x, :y) AS env) e,
         LATERAL (SELECT (ST_XMax(e.env) - ST_XMin(e.env)) / :extent AS unit) u
)

-- @cte seqs
seqs AS MATERIALIZED (
    -- The published sequences passing the filters whose line touches the buffered tile.
    SELECT s.id, s.mapillary_key, s.captured_at, s.pano, s.owner_id, s.transport_type_id,
           s.geom_3857
    FROM sequences s, tile
    WHERE s.geom_3857 && tile.area AND (/*@include sequence_filters*/)
)

-- @cte lines
lines AS MATERIALIZED (
    -- Each line simplified to a pixel (of a 512-pixel tile) and snapped to the tile grid; a
    -- line that collapses (a one-photo sequence, or one shorter than a grid unit) becomes a
    -- one-unit line at its start, so that every sequence stays visible at every zoom.
    SELECT seqs.id, seqs.mapillary_key, seqs.captured_at, seqs.pano, seqs.owner_id,
           seqs.transport_type_id,
           COALESCE(
               ST_AsMVTGeom(ST_Simplify(seqs.geom_3857, tile.unit * 8, true),
                            tile.env, :extent, :buffer, true),
               ST_AsMVTGeom(ST_MakeLine(ST_StartPoint(seqs.geom_3857),
                                        ST_Translate(ST_StartPoint(seqs.geom_3857), tile.unit, 0)),
                            tile.env, :extent, :buffer, true)) AS geom
    FROM seqs, tile
)

-- @cte photo_candidates
photo_candidates AS MATERIALIZED (
    -- The photos of those sequences inside the buffered tile.
    SELECT p.image_key, p.ca, p.sequence_id, p.position, p.captured_at, p.geom_3857,
           seqs.captured_at AS sequence_captured_at, seqs.pano, seqs.transport_type_id
    FROM seqs JOIN photos p ON p.sequence_id = seqs.id, tile
    WHERE p.geom_3857 && tile.area
)

-- @layer overview
COALESCE((
    -- z0-5: one point per sequence (its stored middle point), at most one per 16x16-unit cell
    -- (a pixel of a 256-pixel tile): the newest in each cell.
    SELECT ST_AsMVT(q, 'overview', :extent, 'geom') FROM (
        SELECT d.id::text AS id,
               (extract(epoch FROM d.captured_at) * 1000)::bigint AS captured_at, d.pano,
               ST_AsMVTGeom(d.overview_3857, tile.env, :extent, :buffer, true) AS geom
        FROM (
            SELECT DISTINCT ON (c.cx, c.cy) c.id, c.captured_at, c.pano, c.overview_3857
            FROM (
                SELECT s.id, s.captured_at, s.pano, s.overview_3857,
                       floor((ST_X(s.overview_3857) - tile.x0) / (tile.unit * 16)) AS cx,
                       floor((tile.y0 - ST_Y(s.overview_3857)) / (tile.unit * 16)) AS cy
                FROM sequences s, tile
                WHERE s.overview_3857 && tile.area AND (/*@include sequence_filters*/)
            ) c
            ORDER BY c.cx, c.cy, c.captured_at DESC NULLS LAST, c.id
        ) d, tile
        ORDER BY d.captured_at DESC NULLS LAST, d.id
        LIMIT :overview_cap
    ) q
), ''::bytea)

-- @layer sequences
COALESCE((
    -- z6+: the lines, newest first while the estimated size stays within the budget.
    SELECT ST_AsMVT(q, 'sequences', :extent, 'geom') FROM (
        SELECT l.id::text AS id, l.mapillary_key,
               (extract(epoch FROM l.captured_at) * 1000)::bigint AS captured_at, l.pano,
               tt.name AS transport_type, u.username, l.geom
        FROM (
            SELECT lines.*, sum(3 * ST_NPoints(lines.geom) + 110) OVER (
                       ORDER BY lines.captured_at DESC NULLS LAST, lines.id
                       ROWS UNBOUNDED PRECEDING) AS spent
            FROM lines
            WHERE lines.geom IS NOT NULL
        ) l
        JOIN users u ON u.id = l.owner_id
        LEFT JOIN transport_types tt ON tt.id = l.transport_type_id
        WHERE l.spent <= :sequence_budget
        ORDER BY l.captured_at DESC NULLS LAST, l.id
    ) q
), ''::bytea)

-- @layer photos
COALESCE((
    -- z14+: the photos, with their sequence's transport type (so a client colours them like
    -- their line); where the tile holds more than the cap, every k-th photo of each sequence
    -- (by position), so the thinning is even along the lines.
    SELECT ST_AsMVT(q, 'photos', :extent, 'geom') FROM (
        SELECT c.image_key, c.ca, c.sequence_id::text AS sequence_id, c.position,
               (extract(epoch FROM COALESCE(c.captured_at, c.sequence_captured_at)) * 1000)
                   ::bigint AS captured_at,
               c.pano, tt.name AS transport_type,
               ST_AsMVTGeom(c.geom_3857, tile.env, :extent, :buffer, true) AS geom
        FROM photo_candidates c
        LEFT JOIN transport_types tt ON tt.id = c.transport_type_id, tile
        WHERE c.position % (SELECT greatest(1, ceil(count(*) / CAST(:photo_cap AS float8)))
                            FROM photo_candidates)::integer = 0
        ORDER BY c.sequence_captured_at DESC NULLS LAST, c.sequence_id, c.position
        LIMIT :photo_cap
    ) q
), ''::bytea)

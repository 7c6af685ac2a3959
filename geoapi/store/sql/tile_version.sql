-- The version of tile :z/:x/:y: the data version of the last commit that changed what it shows
-- (tile_areas, kept at commit by migration 0008's step; a tile deeper than 8 has its z8
-- ancestor's), never below the floor of writes that change every tile; 0 on a fresh database.
greatest(
    (SELECT a.version FROM tile_areas a
     WHERE a.z = least(:z, 8)
       AND a.x = (:x >> greatest(:z - 8, 0)) AND a.y = (:y >> greatest(:z - 8, 0))),
    (SELECT f.version FROM tile_areas f WHERE f.z = -1 AND f.x = 0 AND f.y = 0),
    0)

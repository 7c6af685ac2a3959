-- Vector tiles: a stored point per sequence for the overview band (z0-5), so low-zoom tiles read
-- a small indexed point instead of (and never detoast) whole lines; and data version bumps for
-- the remaining writes that change what (filtered) tiles show.

-- The middle of the line (SRID 3857): for a one-photo sequence, its photo.
ALTER TABLE sequences ADD COLUMN overview_3857 geometry(Point, 3857)
    GENERATED ALWAYS AS (ST_Transform(ST_LineInterpolatePoint(geom, 0.5), 3857)) STORED;
CREATE INDEX sequences_overview_3857_idx ON sequences USING gist (overview_3857)
    WHERE status = 'published';

-- camera_make is a tile filter; 0001's update trigger does not list it.
CREATE TRIGGER sequences_data_version_camera AFTER UPDATE OF camera_make ON sequences
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
-- Tags filter tiles; usernames and transport type names are tile attributes.
CREATE TRIGGER sequence_tags_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON sequence_tags FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
CREATE TRIGGER users_data_version AFTER UPDATE OF username ON users
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
CREATE TRIGGER transport_types_data_version AFTER INSERT OR UPDATE OR DELETE ON transport_types
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();

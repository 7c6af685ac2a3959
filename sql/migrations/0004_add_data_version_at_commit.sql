-- Bump the tile data version again at commit time. The statement triggers of 0001/0002 bump it
-- when the write happens, before its transaction commits: a tile or TileJSON read in between
-- would cache the old data under the new version. These deferred triggers run when the writing
-- transaction commits, so the version a reader sees after the commit is one no reader could have
-- paired with the old data. Like counts stay out (like_count is not in the column list).
CREATE CONSTRAINT TRIGGER sequences_data_version_at_commit
    AFTER INSERT OR DELETE OR UPDATE OF owner_id, mapillary_key, captured_at, pano,
        transport_type_id, status, geom, camera_make
    ON sequences DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_data_version();
CREATE CONSTRAINT TRIGGER sequence_tags_data_version_at_commit
    AFTER INSERT OR UPDATE OR DELETE ON sequence_tags DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_data_version();

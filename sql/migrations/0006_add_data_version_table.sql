-- The data version as a one-row table, exact on the primary and on every streaming replica.
-- data_version_seq alone cannot be: nextval is not transactional (0004), and on a hot standby a
-- sequence shows its WAL-logged value, which PostgreSQL logs up to 32 values ahead of the last
-- one handed out, so a replica would claim data it has not replayed yet. An UPDATE of this row
-- is replicated with, and becomes visible together with, the rows its transaction wrote.
CREATE TABLE data_version (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    version  bigint NOT NULL
);
INSERT INTO data_version (version)
SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM data_version_seq;

-- The transaction's one bump of the table: the first call sets the row to a new value of the
-- sequence; later ones see the transaction-local flag and return, so a bulk import's thousands
-- of row events cost one UPDATE. Called at commit (the deferred row triggers below), the row
-- lock is held only from one writer's commit to its end, and a writer that waited for it
-- re-evaluates nextval afterwards (READ COMMITTED), so versions grow in commit order.
CREATE FUNCTION bump_data_version_once() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('geoapi.data_version_bumped', true) IS DISTINCT FROM 'on' THEN
        UPDATE data_version SET version = nextval('data_version_seq');
        PERFORM set_config('geoapi.data_version_bumped', 'on', true);
    END IF;
END;
$$;

CREATE FUNCTION bump_data_version_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bump_data_version_once();
    RETURN NULL;
END;
$$;

-- The statement triggers of 0001/0002 keep bumping the sequence when a write happens. Row
-- triggers never see a TRUNCATE, so it moves the table at once (it holds its tables' exclusive
-- lock to the commit anyway); the new value shows when the TRUNCATE commits.
CREATE OR REPLACE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM bump_data_version_once();
    END IF;
    PERFORM nextval('data_version_seq');
    RETURN NULL;
END;
$$;

-- 0004's at-commit triggers now move the table.
DROP TRIGGER sequences_data_version_at_commit ON sequences;
CREATE CONSTRAINT TRIGGER sequences_data_version_at_commit
    AFTER INSERT OR DELETE OR UPDATE OF owner_id, mapillary_key, captured_at, pano,
        transport_type_id, status, geom, camera_make
    ON sequences DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_data_version_at_commit();
DROP TRIGGER sequence_tags_data_version_at_commit ON sequence_tags;
CREATE CONSTRAINT TRIGGER sequence_tags_data_version_at_commit
    AFTER INSERT OR UPDATE OR DELETE ON sequence_tags DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_data_version_at_commit();
-- Usernames and transport type names are tile attributes (0002 bumps the sequence for them);
-- both tables are small and rarely written. Photos need none: every write of photos writes
-- their sequence's line (geom) in the same transaction, or deletes the sequence.
CREATE CONSTRAINT TRIGGER users_data_version_at_commit
    AFTER UPDATE OF username ON users DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_data_version_at_commit();
CREATE CONSTRAINT TRIGGER transport_types_data_version_at_commit
    AFTER INSERT OR UPDATE OR DELETE ON transport_types DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_data_version_at_commit();

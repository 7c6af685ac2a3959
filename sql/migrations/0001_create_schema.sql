-- geoapi schema: the whole domain, so later migrations only add columns.
-- Geometry in SRID 4326 lon/lat; a stored SRID 3857 copy feeds the vector tiles.

CREATE EXTENSION IF NOT EXISTS postgis;

-- Bumped (non-transactionally, without row locks) by every statement that changes what tiles
-- show; the tile URL carries its value so caches never serve stale tiles.
CREATE SEQUENCE data_version_seq;

CREATE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('data_version_seq');
    RETURN NULL;
END;
$$;

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- Users and API tokens ----------------------------------------------------------------------

CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username    text NOT NULL CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

-- Only a SHA-256 digest of each token is kept; the token itself is shown once at creation.
CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    name          text NOT NULL DEFAULT 'default',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

-- A linked Mapillary account; tokens are encrypted by the application (Fernet) before storage.
CREATE TABLE mapillary_accounts (
    user_id                  uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    mapillary_user_key       text,
    mapillary_username       text,
    api_version              text NOT NULL DEFAULT 'v4' CHECK (api_version IN ('v3', 'v4')),
    access_token_encrypted   bytea NOT NULL,
    refresh_token_encrypted  bytea,
    expires_at               timestamptz,
    scope                    text,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER mapillary_accounts_touch BEFORE UPDATE ON mapillary_accounts
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Reference data --------------------------------------------------------------------------------

-- Two-level tree: parents have parent_id NULL; sequences take a leaf (a child).
CREATE TABLE transport_types (
    id         serial PRIMARY KEY,
    parent_id  integer REFERENCES transport_types (id),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    aliases    text[] NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX transport_types_name_lower_key ON transport_types (lower(name));
CREATE INDEX transport_types_parent_id_idx ON transport_types (parent_id);

INSERT INTO transport_types (name) VALUES ('Air'), ('Earth'), ('Snow'), ('Water'), ('Other');

INSERT INTO transport_types (parent_id, name)
SELECT p.id, c.name
FROM (VALUES
    ('Air', 'BASE Jump'), ('Air', 'Glider'), ('Air', 'Hang Glide'), ('Air', 'Parachute'),
    ('Air', 'Paraglide'), ('Air', 'Wingsuit'), ('Air', 'Helicopter'), ('Air', 'Plane'),
    ('Air', 'Drone'),
    ('Earth', 'Bicycle'), ('Earth', 'Rollerskate'), ('Earth', 'Scooter'), ('Earth', 'Skateboard'),
    ('Earth', 'Walk'), ('Earth', 'Rock Climbing'), ('Earth', 'Car'), ('Earth', 'Electric Bicycle'),
    ('Earth', 'Electric Scooter'), ('Earth', 'Electric Car'), ('Earth', 'Wheelchair'),
    ('Snow', 'Ski'), ('Snow', 'Snowboard'), ('Snow', 'Snowshoe'), ('Snow', 'Ice Skating'),
    ('Snow', 'Snowmobile'),
    ('Water', 'Canoe'), ('Water', 'Kayak'), ('Water', 'Kiteboard'), ('Water', 'Paddleboard'),
    ('Water', 'Row'), ('Water', 'Scuba Dive'), ('Water', 'Sail'), ('Water', 'Surf'),
    ('Water', 'Swim'), ('Water', 'Windsurf'), ('Water', 'Boat'), ('Water', 'Freedive'),
    ('Other', 'Unlisted')
) AS c (parent, name)
JOIN transport_types p ON p.name = c.parent AND p.parent_id IS NULL;

-- "Other" names the parent in filters and, for a sequence, its only leaf.
UPDATE transport_types SET aliases = ARRAY['other'] WHERE name = 'Unlisted';

CREATE TABLE tags (
    id    serial PRIMARY KEY,
    name  text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9-]{1,64}$')
);

-- Sequences and photos --------------------------------------------------------------------------

CREATE TABLE sequences (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    mapillary_key         text UNIQUE CHECK (length(mapillary_key) BETWEEN 1 AND 128),
    mapillary_user_key    text,
    mapillary_username    text,
    title                 text NOT NULL CHECK (length(title) <= 200),
    description           text CHECK (length(description) <= 10000),
    transport_type_id     integer REFERENCES transport_types (id),
    camera_make           text,
    captured_at           timestamptz,
    mapillary_created_at  timestamptz,
    pano                  boolean NOT NULL DEFAULT false,
    source                text NOT NULL DEFAULT 'geojson',
    -- draft: created by the desktop uploader, photos not yet imported; invisible to others.
    status                text NOT NULL DEFAULT 'published' CHECK (status IN ('draft', 'published')),
    -- A one-photo sequence is stored as a zero-length two-point line so that bbox queries and
    -- tiles still find it.
    geom                  geometry(LineString, 4326),
    geom_3857             geometry(LineString, 3857)
                          GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED,
    photo_count           integer NOT NULL DEFAULT 0 CHECK (photo_count >= 0),
    length_m              double precision NOT NULL DEFAULT 0 CHECK (length_m >= 0),
    like_count            integer NOT NULL DEFAULT 0 CHECK (like_count >= 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (status = 'draft' OR (geom IS NOT NULL AND photo_count >= 1))
);
CREATE INDEX sequences_geom_idx ON sequences USING gist (geom);
CREATE INDEX sequences_geom_3857_idx ON sequences USING gist (geom_3857);
CREATE INDEX sequences_owner_id_idx ON sequences (owner_id);
CREATE INDEX sequences_captured_at_id_idx ON sequences (captured_at DESC, id DESC);
CREATE INDEX sequences_transport_type_id_idx ON sequences (transport_type_id);
CREATE TRIGGER sequences_touch BEFORE UPDATE ON sequences
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER sequences_data_version AFTER INSERT OR DELETE OR TRUNCATE ON sequences
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
-- Only columns that tiles show; like counts stay out of tiles and out of the version.
CREATE TRIGGER sequences_data_version_update
    AFTER UPDATE OF owner_id, mapillary_key, captured_at, pano, transport_type_id, status, geom
    ON sequences FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();

CREATE TABLE sequence_tags (
    sequence_id  uuid NOT NULL REFERENCES sequences (id) ON DELETE CASCADE,
    tag_id       integer NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (sequence_id, tag_id)
);
CREATE INDEX sequence_tags_tag_id_idx ON sequence_tags (tag_id);

CREATE TABLE photos (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sequence_id  uuid NOT NULL REFERENCES sequences (id) ON DELETE CASCADE,
    image_key    text NOT NULL UNIQUE CHECK (length(image_key) BETWEEN 1 AND 128),
    position     integer NOT NULL CHECK (position >= 0),
    ca           double precision CHECK (ca >= 0 AND ca < 360),
    captured_at  timestamptz,
    geom         geometry(Point, 4326) NOT NULL,
    geom_3857    geometry(Point, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED,
    UNIQUE (sequence_id, position)
);
CREATE INDEX photos_geom_idx ON photos USING gist (geom);
CREATE INDEX photos_geom_3857_idx ON photos USING gist (geom_3857);
CREATE TRIGGER photos_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON photos
    FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();

-- Likes: at most one row per (user, sequence); like_count on sequences is kept exact by trigger,
-- under the sequence row's lock, so concurrent likes never lose an update.
CREATE TABLE likes (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sequence_id  uuid NOT NULL REFERENCES sequences (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, sequence_id)
);
CREATE INDEX likes_sequence_id_idx ON likes (sequence_id);

CREATE FUNCTION likes_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE sequences SET like_count = like_count + 1 WHERE id = NEW.sequence_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE sequences SET like_count = like_count - 1 WHERE id = OLD.sequence_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER likes_count AFTER INSERT OR DELETE ON likes
    FOR EACH ROW EXECUTE FUNCTION likes_count();

-- The owner never likes their own sequence: checked by the API and enforced here.
CREATE FUNCTION likes_not_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM sequences s WHERE s.id = NEW.sequence_id AND s.owner_id = NEW.user_id) THEN
        RAISE EXCEPTION 'the owner of sequence % cannot like it', NEW.sequence_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER likes_not_owner BEFORE INSERT ON likes
    FOR EACH ROW EXECUTE FUNCTION likes_not_owner();

-- Tours -----------------------------------------------------------------------------------------

CREATE TABLE tours (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description  text CHECK (length(description) <= 10000),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tours_owner_id_idx ON tours (owner_id);
CREATE TRIGGER tours_touch BEFORE UPDATE ON tours
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE tour_sequences (
    tour_id      uuid NOT NULL REFERENCES tours (id) ON DELETE CASCADE,
    sequence_id  uuid NOT NULL REFERENCES sequences (id) ON DELETE CASCADE,
    position     integer NOT NULL CHECK (position >= 0),
    PRIMARY KEY (tour_id, sequence_id),
    UNIQUE (tour_id, position) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX tour_sequences_sequence_id_idx ON tour_sequences (sequence_id);

-- Every sequence of a tour belongs to the tour's owner: checked by the API and enforced here.
CREATE FUNCTION tour_sequences_same_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM tours t JOIN sequences s ON s.owner_id = t.owner_id
        WHERE t.id = NEW.tour_id AND s.id = NEW.sequence_id
    ) THEN
        RAISE EXCEPTION 'sequence % does not belong to the owner of tour %', NEW.sequence_id, NEW.tour_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER tour_sequences_same_owner BEFORE INSERT OR UPDATE ON tour_sequences
    FOR EACH ROW EXECUTE FUNCTION tour_sequences_same_owner();

CREATE TABLE tour_tags (
    tour_id  uuid NOT NULL REFERENCES tours (id) ON DELETE CASCADE,
    tag_id   integer NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (tour_id, tag_id)
);
CREATE INDEX tour_tags_tag_id_idx ON tour_tags (tag_id);

-- Import jobs -----------------------------------------------------------------------------------

-- One row per sequence to import from Mapillary; workers take them with FOR UPDATE SKIP LOCKED.
CREATE TABLE import_jobs (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source         text NOT NULL CHECK (source IN ('mapillary_v3', 'mapillary_v4', 'uploader')),
    sequence_key   text NOT NULL,
    options        jsonb NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'imported', 'exists', 'failed')),
    reason         text,
    sequence_id    uuid REFERENCES sequences (id) ON DELETE SET NULL,
    target_sequence_id uuid REFERENCES sequences (id) ON DELETE CASCADE,
    attempts       integer NOT NULL DEFAULT 0,
    max_attempts   integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_after      timestamptz NOT NULL DEFAULT now(),
    locked_at      timestamptz,
    locked_by      text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
CREATE INDEX import_jobs_pending_idx ON import_jobs (run_after) WHERE status IN ('queued', 'running');
CREATE INDEX import_jobs_user_id_idx ON import_jobs (user_id, created_at DESC);
CREATE TRIGGER import_jobs_touch BEFORE UPDATE ON import_jobs
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

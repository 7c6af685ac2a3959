-- The staging tables of the set-based bulk writer (geoapi/store/staging.py): one row per sequence
-- and one per photo of the batch being written, filled by COPY. Temporary, so private to the
-- writer's connection, and emptied at every commit.
CREATE TEMP TABLE IF NOT EXISTS import_stage_sequences (
    idx               integer PRIMARY KEY,
    key               text NOT NULL,
    user_key          text,
    username          text,
    title             text NOT NULL,
    description       text,
    transport_type_id integer,
    camera_make       text,
    captured_at       timestamptz,
    created_at        timestamptz,
    pano              boolean NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS import_stage_photos (
    idx       integer NOT NULL,
    position  integer NOT NULL,
    image_key text NOT NULL,
    ca        float8,
    lon       float8 NOT NULL,
    lat       float8 NOT NULL
) ON COMMIT DELETE ROWS;

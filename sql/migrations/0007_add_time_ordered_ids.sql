-- Time-ordered UUIDs (the layout of RFC 9562's version 7: 48 bits of Unix milliseconds, then
-- random bits) for the rows bulk imports write by the million. A random UUID lands anywhere in
-- its primary key's B-tree, so at ten million photos every insert dirties a different page and
-- every checkpoint logs each such page whole; ids that grow with time append to the right edge
-- of photos_pkey and, through sequence_id, of photos (sequence_id, position) too. Ids stay
-- unguessable (74 random bits) and are still plain uuid values.
CREATE FUNCTION time_ordered_uuid() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

ALTER TABLE sequences ALTER COLUMN id SET DEFAULT time_ordered_uuid();
ALTER TABLE photos ALTER COLUMN id SET DEFAULT time_ordered_uuid();

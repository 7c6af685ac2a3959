-- Linking a Mapillary account, in progress: one row per login started, single-use, short-lived.
-- The OAuth state is random (it names no user); only its SHA-256 digest is kept, with the digest
-- of the secret held by the browser that started the login (an HttpOnly cookie), so only that
-- browser can finish it. The PKCE code verifier is Fernet-encrypted like the tokens.
CREATE TABLE mapillary_link_attempts (
    state_hash               bytea PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    user_id                  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    browser_hash             bytea NOT NULL CHECK (octet_length(browser_hash) = 32),
    code_verifier_encrypted  bytea NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    expires_at               timestamptz NOT NULL,
    used_at                  timestamptz
);
CREATE INDEX mapillary_link_attempts_expires_at_idx ON mapillary_link_attempts (expires_at);

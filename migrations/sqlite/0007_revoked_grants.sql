-- Durable grant revocation. Pair of migrations/postgres/0007_revoked_grants.sql.

CREATE TABLE revoked_grants (
    family_id   BLOB PRIMARY KEY,
    revoked_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX revoked_grants_expires_idx ON revoked_grants (expires_at);

INSERT INTO revoked_grants (family_id, revoked_at, expires_at)
    SELECT family_id, MIN(revoked_at), MAX(family_expires_at) FROM refresh_tokens
    WHERE revoked_at IS NOT NULL GROUP BY family_id
    ON CONFLICT (family_id) DO NOTHING;

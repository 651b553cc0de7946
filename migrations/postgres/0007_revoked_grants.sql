-- Durable grant revocation. A revoked grant (a refresh-token family) is a row here, kept until
-- the family could have expired anyway; rotation checks it in the same statement, so a
-- successor inserted by a concurrent rotation after the revocation is never usable.

CREATE TABLE revoked_grants (
    family_id   UUID PRIMARY KEY,
    revoked_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX revoked_grants_expires_idx ON revoked_grants (expires_at);

-- Families revoked before this table existed stay revoked.
INSERT INTO revoked_grants (family_id, revoked_at, expires_at)
    SELECT family_id, MIN(revoked_at), MAX(family_expires_at) FROM refresh_tokens
    WHERE revoked_at IS NOT NULL GROUP BY family_id
    ON CONFLICT (family_id) DO NOTHING;

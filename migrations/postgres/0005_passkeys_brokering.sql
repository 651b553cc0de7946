-- Passkeys (WebAuthn), links to upstream identity providers, and verified personal data with
-- its provenance.

CREATE TABLE passkeys (
    id             UUID PRIMARY KEY,
    account_id     UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    credential_id  TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    passkey        TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    last_used_at   TIMESTAMPTZ
);
CREATE INDEX passkeys_account_idx ON passkeys (account_id);

CREATE TABLE upstream_links (
    upstream      TEXT NOT NULL,
    upstream_sub  TEXT NOT NULL,
    account_id    UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    level         TEXT NOT NULL CHECK (level IN ('low', 'substantial', 'high')),
    linked_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (upstream, upstream_sub),
    UNIQUE (account_id, upstream)
);

CREATE TABLE verified_claims (
    account_id   UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    claim        TEXT NOT NULL,
    value        TEXT NOT NULL,
    source       TEXT NOT NULL,
    level        TEXT NOT NULL CHECK (level IN ('low', 'substantial', 'high')),
    verified_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, claim)
);

-- The level a portal needs for every login (design: "and of the client's default").
ALTER TABLE clients ADD COLUMN default_level TEXT;

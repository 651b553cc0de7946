-- Tenants (a Landkreis or a Kommune of the Verbund), their clients, central accounts,
-- consents, pairwise subjects and the audit log. Pair of migrations/postgres/0001_initial.sql:
-- UUID -> BLOB, TIMESTAMPTZ -> TEXT (RFC 3339), JSONB -> TEXT, BYTEA -> BLOB.

CREATE TABLE tenants (
    id          BLOB PRIMARY KEY,
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE clients (
    id                         TEXT PRIMARY KEY,
    tenant_id                  BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                       TEXT NOT NULL,
    secret_hash                BLOB,
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    scopes                     TEXT NOT NULL,
    subject_type               TEXT NOT NULL CHECK (subject_type IN ('pairwise', 'public')),
    id_token_alg               TEXT NOT NULL CHECK (id_token_alg IN ('RS256', 'ES256')),
    created_at                 TEXT NOT NULL
);
CREATE INDEX clients_tenant_idx ON clients (tenant_id);

CREATE TABLE accounts (
    id              BLOB PRIMARY KEY,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    email_verified  BOOLEAN NOT NULL,
    proofing_level  TEXT NOT NULL CHECK (proofing_level IN ('low', 'substantial', 'high')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CONSTRAINT accounts_email_key UNIQUE (email)
);

CREATE TABLE consents (
    account_id  BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL,
    granted_at  TEXT NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

CREATE TABLE subjects (
    sector      TEXT NOT NULL,
    sub         TEXT NOT NULL,
    account_id  BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (sector, sub)
);
CREATE INDEX subjects_account_idx ON subjects (account_id);

CREATE TABLE audit_events (
    id          BLOB PRIMARY KEY,
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    account_id  BLOB,
    client_id   TEXT,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_events_account_idx ON audit_events (account_id, at);

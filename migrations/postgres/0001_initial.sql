-- Tenants (a Landkreis or a Kommune of the Verbund), their clients, central accounts,
-- consents, pairwise subjects and the audit log.

CREATE TABLE tenants (
    id          UUID PRIMARY KEY,
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE clients (
    id                         TEXT PRIMARY KEY,
    tenant_id                  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                       TEXT NOT NULL,
    secret_hash                BYTEA,
    redirect_uris              JSONB NOT NULL,
    post_logout_redirect_uris  JSONB NOT NULL,
    grant_types                JSONB NOT NULL,
    scopes                     JSONB NOT NULL,
    subject_type               TEXT NOT NULL CHECK (subject_type IN ('pairwise', 'public')),
    id_token_alg               TEXT NOT NULL CHECK (id_token_alg IN ('RS256', 'ES256')),
    created_at                 TIMESTAMPTZ NOT NULL
);
CREATE INDEX clients_tenant_idx ON clients (tenant_id);

CREATE TABLE accounts (
    id              UUID PRIMARY KEY,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    email_verified  BOOLEAN NOT NULL,
    proofing_level  TEXT NOT NULL CHECK (proofing_level IN ('low', 'substantial', 'high')),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT accounts_email_key UNIQUE (email)
);

CREATE TABLE consents (
    account_id  UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes      JSONB NOT NULL,
    granted_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

-- Pairwise subjects handed out, so that a `sub` seen by a tenant can be resolved back
-- (userinfo, mailbox recipients) without making it derivable by anyone else.
CREATE TABLE subjects (
    sector      TEXT NOT NULL,
    sub         TEXT NOT NULL,
    account_id  UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (sector, sub)
);
CREATE INDEX subjects_account_idx ON subjects (account_id);

CREATE TABLE audit_events (
    id          UUID PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    kind        TEXT NOT NULL,
    account_id  UUID,
    client_id   TEXT,
    detail      JSONB NOT NULL
);
CREATE INDEX audit_events_account_idx ON audit_events (account_id, at);

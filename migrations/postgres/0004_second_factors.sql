-- Second factors (TOTP with recovery codes) and identity proofing records.

CREATE TABLE totp_credentials (
    account_id      UUID PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    secret          BYTEA NOT NULL,
    last_used_step  BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE recovery_codes (
    account_id  UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     TIMESTAMPTZ,
    PRIMARY KEY (account_id, code_hash)
);

CREATE TABLE identity_proofings (
    id             UUID PRIMARY KEY,
    account_id     UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    level          TEXT NOT NULL CHECK (level IN ('low', 'substantial', 'high')),
    method         TEXT NOT NULL,
    document_type  TEXT,
    verified_by    TEXT NOT NULL,
    at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX identity_proofings_account_idx ON identity_proofings (account_id, at);

-- Second factors and identity proofing records. Pair of migrations/postgres/0004_second_factors.sql.

CREATE TABLE totp_credentials (
    account_id      BLOB PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    secret          BLOB NOT NULL,
    last_used_step  INTEGER NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE recovery_codes (
    account_id  BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     TEXT,
    PRIMARY KEY (account_id, code_hash)
);

CREATE TABLE identity_proofings (
    id             BLOB PRIMARY KEY,
    account_id     BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    level          TEXT NOT NULL CHECK (level IN ('low', 'substantial', 'high')),
    method         TEXT NOT NULL,
    document_type  TEXT,
    verified_by    TEXT NOT NULL,
    at             TEXT NOT NULL
);
CREATE INDEX identity_proofings_account_idx ON identity_proofings (account_id, at);

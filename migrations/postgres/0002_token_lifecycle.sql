-- Token lifecycle: client authentication methods (private_key_jwt), back-channel logout,
-- and refresh tokens (stored only as hashes; rotated; a family shares one grant).

ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic'
    CHECK (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'));
UPDATE clients SET token_endpoint_auth_method = 'none' WHERE secret_hash IS NULL;
ALTER TABLE clients ADD COLUMN jwks JSONB;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;

CREATE TABLE refresh_tokens (
    token_hash         TEXT PRIMARY KEY,
    family_id          UUID NOT NULL,
    client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    account_id         UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    sub                TEXT NOT NULL,
    scope              TEXT NOT NULL,
    auth_time          BIGINT NOT NULL,
    acr                TEXT NOT NULL,
    amr                JSONB NOT NULL,
    sid                TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    expires_at         TIMESTAMPTZ NOT NULL,
    family_expires_at  TIMESTAMPTZ NOT NULL,
    used_at            TIMESTAMPTZ,
    revoked_at         TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_account_client_idx ON refresh_tokens (account_id, client_id);
CREATE INDEX refresh_tokens_family_expires_idx ON refresh_tokens (family_expires_at);

-- Passkeys: since this release a synced passkey gives at most substantial. Grants issued at
-- high on a passkey login before that (amr hwk) may rest on a synced passkey and are revoked;
-- their portals send the citizen through a new login, which decides the level anew.

INSERT INTO revoked_grants (family_id, revoked_at, expires_at)
    SELECT family_id, NOW(), MAX(family_expires_at) FROM refresh_tokens
    WHERE revoked_at IS NULL AND acr = 'high' AND amr ? 'hwk' GROUP BY family_id
    ON CONFLICT (family_id) DO NOTHING;
UPDATE refresh_tokens SET revoked_at = NOW()
    WHERE revoked_at IS NULL AND acr = 'high' AND amr ? 'hwk';

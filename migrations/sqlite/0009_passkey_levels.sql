-- Passkeys give high only when device-bound. Pair of migrations/postgres/0009_passkey_levels.sql.

INSERT INTO revoked_grants (family_id, revoked_at, expires_at)
    SELECT family_id, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), MAX(family_expires_at) FROM refresh_tokens
    WHERE revoked_at IS NULL AND acr = 'high' AND amr LIKE '%"hwk"%' GROUP BY family_id
    ON CONFLICT (family_id) DO NOTHING;
UPDATE refresh_tokens SET revoked_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')
    WHERE revoked_at IS NULL AND acr = 'high' AND amr LIKE '%"hwk"%';

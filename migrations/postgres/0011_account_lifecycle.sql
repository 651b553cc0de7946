-- The account's life: browsers it signed in from (a mail on a new one), the last login (the
-- inactivity rule), a requested or announced deletion and its date, and the deletion itself
-- (the row stays as a nameless tombstone so that messages keep their evidence).
-- Pair of migrations/sqlite/0011_account_lifecycle.sql.
ALTER TABLE accounts ADD COLUMN last_login_at TIMESTAMPTZ;
ALTER TABLE accounts ADD COLUMN deletion_due_at TIMESTAMPTZ;
ALTER TABLE accounts ADD COLUMN deletion_reason TEXT;
ALTER TABLE accounts ADD COLUMN deleted_at TIMESTAMPTZ;
CREATE INDEX accounts_deletion_due_idx ON accounts (deletion_due_at) WHERE deletion_due_at IS NOT NULL;
CREATE INDEX accounts_last_login_idx ON accounts (COALESCE(last_login_at, created_at)) WHERE deleted_at IS NULL;

CREATE TABLE account_devices (
    account_id   UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    device_hash  TEXT NOT NULL,
    first_seen   TIMESTAMPTZ NOT NULL,
    last_seen    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, device_hash)
);

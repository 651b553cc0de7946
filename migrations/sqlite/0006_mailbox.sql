-- The mailbox. Pair of migrations/postgres/0006_mailbox.sql.

CREATE TABLE mailbox_messages (
    id               BLOB PRIMARY KEY,
    sender_client_id TEXT NOT NULL,
    sender_tenant_id BLOB NOT NULL REFERENCES tenants (id),
    account_id       BLOB NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    recipient_sub    TEXT NOT NULL,
    reference        TEXT,
    process          TEXT,
    required_level   TEXT NOT NULL CHECK (required_level IN ('low', 'substantial', 'high')),
    reply_allowed    INTEGER NOT NULL,
    expires_at       TEXT,
    created_at       TEXT NOT NULL,
    state            TEXT NOT NULL,
    opened_at        TEXT,
    notified_at      TEXT,
    notify_claimed_at TEXT,
    archived_at      TEXT,
    deleted_at       TEXT,
    purged_at        TEXT,
    key_id           TEXT,
    wrapped_key      BLOB,
    subject          BLOB,
    body             BLOB,
    idempotency_key  TEXT,
    request_hash     TEXT,
    UNIQUE (sender_client_id, idempotency_key)
);
-- The inbox listing (unread first, newest first) walks this index and stops after a page.
CREATE INDEX mailbox_messages_inbox_idx ON mailbox_messages
    (account_id, (opened_at IS NOT NULL), created_at DESC, id DESC)
    WHERE deleted_at IS NULL AND purged_at IS NULL;
CREATE INDEX mailbox_messages_notify_idx ON mailbox_messages (notified_at, created_at);

CREATE TABLE mailbox_replies (
    id          BLOB PRIMARY KEY,
    message_id  BLOB NOT NULL REFERENCES mailbox_messages (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    cursor_no   INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    key_id      TEXT,
    wrapped_key BLOB,
    body        BLOB,
    UNIQUE (client_id, cursor_no)
);

-- One counter per receiving client: taking the next cursor locks the row until the reply is
-- committed, so cursors become visible in increasing order and paging never skips one.
CREATE TABLE mailbox_reply_cursors (
    client_id  TEXT PRIMARY KEY,
    last       INTEGER NOT NULL
);

CREATE TABLE mailbox_attachments (
    id            BLOB PRIMARY KEY,
    message_id    BLOB NOT NULL REFERENCES mailbox_messages (id) ON DELETE CASCADE,
    reply_id      BLOB REFERENCES mailbox_replies (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL,
    filename      BLOB NOT NULL,
    content       BLOB
);
CREATE INDEX mailbox_attachments_message_idx ON mailbox_attachments (message_id, reply_id, position);

CREATE TABLE mailbox_events (
    message_id  BLOB NOT NULL REFERENCES mailbox_messages (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    at          TEXT NOT NULL,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (message_id, seq)
);

-- The language for mails sent without a request (mailbox notifications, factor changes).
ALTER TABLE accounts ADD COLUMN lang TEXT NOT NULL DEFAULT 'de';

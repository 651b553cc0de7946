-- Citizens write first (issue 14): a Kommune's contact topics, each received by one
-- authority system, and messages that citizens start. A citizen's message is a mailbox
-- message whose `origin` is 'citizen': addressed to the topic's system (`sender_client_id`
-- is the system it goes to), sealed and evidenced like the other direction, and fetched by
-- the system through its own cursor (`incoming_cursor`, from mailbox_reply_cursors under the
-- key 'incoming:' || client). Pair of migrations/postgres/0016_citizen_messages.sql.
CREATE TABLE mailbox_topics (
    id             BLOB PRIMARY KEY,
    tenant_id      BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    slug           TEXT NOT NULL,
    name           TEXT NOT NULL,
    process        TEXT,
    client_id      TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    required_level TEXT NOT NULL CHECK (required_level IN ('low', 'substantial', 'high')),
    created_at     TEXT NOT NULL,
    disabled_at    TEXT,
    UNIQUE (tenant_id, slug)
);

ALTER TABLE mailbox_messages ADD COLUMN origin TEXT NOT NULL DEFAULT 'authority';
ALTER TABLE mailbox_messages ADD COLUMN topic TEXT;
ALTER TABLE mailbox_messages ADD COLUMN incoming_cursor INTEGER;
CREATE UNIQUE INDEX mailbox_messages_incoming_idx ON mailbox_messages (sender_client_id, incoming_cursor)
    WHERE incoming_cursor IS NOT NULL;

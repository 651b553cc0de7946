-- Signed callbacks to authority systems (issue 14): where each system wants to hear about
-- its messages, and the durable outbox of deliveries. An outbox row is written in the same
-- transaction as the evidence event it announces, so a commit is never without its callback.
-- Pair of migrations/postgres/0015_mailbox_callbacks.sql.
CREATE TABLE mailbox_callback_targets (
    client_id   TEXT PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    -- The secret is sealed under a data key wrapped by the mailbox master key.
    key_id      TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    secret      BLOB NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE mailbox_callbacks (
    id              BLOB PRIMARY KEY,
    client_id       TEXT NOT NULL,
    message_id      BLOB NOT NULL REFERENCES mailbox_messages (id) ON DELETE CASCADE,
    -- The evidence event's sequence number: deliveries of one message keep this order.
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    created_at      TEXT NOT NULL,
    -- Retries give up this long after `retry_from` (creation, or a redelivery by hand).
    retry_from      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    -- An instance that took the delivery holds it until then (a killed one lets go).
    lease_until     TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    delivered_at    TEXT,
    UNIQUE (message_id, seq)
);
CREATE INDEX mailbox_callbacks_due_idx ON mailbox_callbacks (next_attempt_at) WHERE state = 'pending';
CREATE INDEX mailbox_callbacks_pending_idx ON mailbox_callbacks (message_id, seq) WHERE state = 'pending';
CREATE INDEX mailbox_callbacks_client_idx ON mailbox_callbacks (client_id, state, created_at);

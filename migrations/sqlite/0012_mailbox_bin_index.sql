-- The citizen's bin (deleted messages whose content is kept) and everything that looks up an
-- account's messages whatever their state (the account's deletion): without these, each
-- walks the whole table. Pair of migrations/postgres/0012_mailbox_bin_index.sql.
CREATE INDEX mailbox_messages_bin_idx ON mailbox_messages (account_id, deleted_at DESC, id DESC)
    WHERE deleted_at IS NOT NULL AND purged_at IS NULL;
CREATE INDEX mailbox_messages_account_idx ON mailbox_messages (account_id);

-- Indexes for the mailbox's background round (issue 15, scale): finding messages due to
-- expire or to be purged read the whole table before (a sequential scan of 10 million
-- messages every round, measured with bench/scale.sh); each reason now has a small partial
-- index (messages in the bin use mailbox_messages_bin_idx of 0012). Pair of
-- migrations/{postgres,sqlite}.
CREATE INDEX mailbox_messages_expiry_idx ON mailbox_messages (expires_at)
    WHERE expires_at IS NOT NULL AND purged_at IS NULL;
CREATE INDEX accounts_deleted_idx ON accounts (deleted_at) WHERE deleted_at IS NOT NULL;
-- Case references stored before they were sealed: the round seals them (an upgrade step);
-- looking for them must not read every message.
CREATE INDEX mailbox_messages_plain_reference_idx ON mailbox_messages (id) WHERE reference IS NOT NULL;

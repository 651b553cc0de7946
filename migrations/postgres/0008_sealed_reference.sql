-- The case reference (Aktenzeichen) is sealed like the subject: under the message's data key,
-- bound to the message and the field. `reference` keeps plaintext only for messages stored
-- before this migration, until the mailbox's background round has sealed them.

ALTER TABLE mailbox_messages ADD COLUMN reference_sealed BYTEA;

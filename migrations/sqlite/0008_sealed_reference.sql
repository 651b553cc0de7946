-- The sealed case reference. Pair of migrations/postgres/0008_sealed_reference.sql.

ALTER TABLE mailbox_messages ADD COLUMN reference_sealed BLOB;

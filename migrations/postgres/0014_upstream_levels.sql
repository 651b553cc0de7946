-- Where a level must come from: a process may require that its level be confirmed by an
-- upstream identity provider (BundID, § 3 Abs. 4 OZG) in the login; refresh tokens keep the
-- source of their grant's level for the ID tokens they renew.
-- Pair of migrations/sqlite/0014_upstream_levels.sql.
ALTER TABLE processes ADD COLUMN upstream_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE refresh_tokens ADD COLUMN level_source TEXT;

-- A Kommune's own Impressum and privacy notice, linked where its portal is the context
-- (login, consent). Pair of migrations/postgres/0010_tenant_legal_links.sql.
ALTER TABLE tenants ADD COLUMN impressum_url TEXT;
ALTER TABLE tenants ADD COLUMN privacy_url TEXT;

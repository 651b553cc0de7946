-- The administration: roles bound to accounts; the audit's actor and tenant (who did what
-- where, filterable); a tenant's state and face (disabled, accent colour, support contact,
-- logo); a client's state, secret overlap and last use; which tenant confirmed an identity;
-- who last changed a process's level; accounts disabled by an administrator.
-- Pair of migrations/sqlite/0013_administration.sql.
CREATE TABLE admin_roles (
    account_id  UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('verbund_admin', 'kommune_admin', 'clerk', 'auditor')),
    tenant_id   UUID REFERENCES tenants (id) ON DELETE CASCADE,
    granted_at  TIMESTAMPTZ NOT NULL,
    granted_by  TEXT NOT NULL,
    CHECK ((role = 'verbund_admin' AND tenant_id IS NULL)
        OR (role IN ('kommune_admin', 'clerk') AND tenant_id IS NOT NULL)
        OR role = 'auditor')
);
CREATE UNIQUE INDEX admin_roles_verbund_key ON admin_roles (account_id, role) WHERE tenant_id IS NULL;
CREATE UNIQUE INDEX admin_roles_tenant_key ON admin_roles (account_id, role, tenant_id) WHERE tenant_id IS NOT NULL;
CREATE INDEX admin_roles_tenant_idx ON admin_roles (tenant_id);

ALTER TABLE audit_events ADD COLUMN actor_id UUID;
ALTER TABLE audit_events ADD COLUMN tenant_id UUID;
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, at) WHERE tenant_id IS NOT NULL;
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, at) WHERE actor_id IS NOT NULL;

ALTER TABLE tenants ADD COLUMN disabled_at TIMESTAMPTZ;
ALTER TABLE tenants ADD COLUMN accent_color TEXT;
ALTER TABLE tenants ADD COLUMN support_contact TEXT;
ALTER TABLE tenants ADD COLUMN logo BYTEA;
ALTER TABLE tenants ADD COLUMN logo_type TEXT;

ALTER TABLE clients ADD COLUMN disabled_at TIMESTAMPTZ;
ALTER TABLE clients ADD COLUMN last_used_at TIMESTAMPTZ;
ALTER TABLE clients ADD COLUMN previous_secret_hash BYTEA;
ALTER TABLE clients ADD COLUMN previous_secret_until TIMESTAMPTZ;

ALTER TABLE identity_proofings ADD COLUMN tenant_id UUID;

ALTER TABLE processes ADD COLUMN updated_by TEXT;

ALTER TABLE accounts ADD COLUMN disabled_at TIMESTAMPTZ;

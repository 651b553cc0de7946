-- The process catalogue (Verwaltungsleistungen): one assurance level per process for the
-- whole Verbund (scope 'verbund'), optionally raised by a tenant for its own portals
-- (scope 'tenant:<uuid>').

CREATE TABLE processes (
    id          TEXT NOT NULL,
    scope       TEXT NOT NULL,
    tenant_id   UUID REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('low', 'substantial', 'high')),
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (id, scope)
);

-- The process catalogue. Pair of migrations/postgres/0003_processes.sql.

CREATE TABLE processes (
    id          TEXT NOT NULL,
    scope       TEXT NOT NULL,
    tenant_id   BLOB REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('low', 'substantial', 'high')),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (id, scope)
);

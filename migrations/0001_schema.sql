-- Schema of the INGENEO third-party API keys service.
-- Convention: one statement per `;` at the end of a line; no `;` inside statements.

CREATE TABLE IF NOT EXISTS api_keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    hint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    methods TEXT NOT NULL DEFAULT '[]',
    companies TEXT NOT NULL DEFAULT '"all"',
    metadata TEXT,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    created_by_id TEXT NOT NULL,
    created_by_name TEXT,
    updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS key_secrets (
    hash TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    valid_until INTEGER
);

CREATE INDEX IF NOT EXISTS key_secrets_by_key ON key_secrets (key_id);

CREATE TABLE IF NOT EXISTS audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    key_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_name TEXT,
    at INTEGER NOT NULL,
    changes TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS audit_events_by_key ON audit_events (key_id, seq);

CREATE TABLE IF NOT EXISTS api_methods (
    name TEXT PRIMARY KEY,
    group_name TEXT NOT NULL,
    label_fr TEXT NOT NULL,
    label_en TEXT NOT NULL,
    description TEXT
);

CREATE TABLE IF NOT EXISTS companies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

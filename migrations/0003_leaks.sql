ALTER TABLE api_keys ADD COLUMN leak TEXT;
CREATE TABLE retired_secrets (hash TEXT PRIMARY KEY, key_id TEXT NOT NULL);
CREATE TRIGGER retire_secret AFTER DELETE ON key_secrets BEGIN INSERT OR IGNORE INTO retired_secrets VALUES (old.hash, old.key_id); END;

ALTER TABLE api_keys ADD COLUMN limits TEXT;
CREATE TABLE usage_hourly (key_id TEXT NOT NULL, hour INTEGER NOT NULL, code TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (key_id, hour, code));
CREATE INDEX usage_hourly_by_hour ON usage_hourly (hour);
CREATE TABLE usage_daily (key_id TEXT NOT NULL, day INTEGER NOT NULL, code TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (key_id, day, code));
CREATE INDEX usage_daily_by_day ON usage_daily (day);
CREATE TABLE usage_rollup (id INTEGER PRIMARY KEY CHECK (id = 1), next_hour INTEGER NOT NULL);

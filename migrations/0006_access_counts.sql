CREATE TABLE access_daily (key_id TEXT NOT NULL, code TEXT NOT NULL, method TEXT NOT NULL, company TEXT NOT NULL, day INTEGER NOT NULL, n INTEGER NOT NULL, last_hour INTEGER NOT NULL, PRIMARY KEY (key_id, code, method, company, day)) WITHOUT ROWID;
CREATE INDEX access_daily_by_day ON access_daily (day);
CREATE TABLE access_methods (key_id TEXT NOT NULL, method TEXT NOT NULL, last_day INTEGER NOT NULL, PRIMARY KEY (key_id, method)) WITHOUT ROWID;

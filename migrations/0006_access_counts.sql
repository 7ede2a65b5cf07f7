CREATE TABLE access_daily (key_id TEXT NOT NULL, day INTEGER NOT NULL, code TEXT NOT NULL, method TEXT NOT NULL, company TEXT NOT NULL, n INTEGER NOT NULL, last_hour INTEGER NOT NULL, PRIMARY KEY (key_id, day, code, method, company));
CREATE INDEX access_daily_by_day ON access_daily (day);

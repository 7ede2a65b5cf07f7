ALTER TABLE key_secrets ADD COLUMN hint TEXT;

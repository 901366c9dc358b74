CREATE INDEX users_last_name ON users (last_name);

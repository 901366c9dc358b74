CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE,
    first_name  TEXT,
    last_name   TEXT,
    created_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE posts (
    id        INTEGER PRIMARY KEY NOT NULL,
    title     VARCHAR NOT NULL,
    body      TEXT NOT NULL,
    published BOOLEAN NOT NULL DEFAULT 0
);
CREATE TABLE comments (
    id      INTEGER PRIMARY KEY NOT NULL,
    post_id INTEGER NOT NULL REFERENCES posts (id),
    body    TEXT NOT NULL
);

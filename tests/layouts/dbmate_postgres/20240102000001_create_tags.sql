-- migrate:up
CREATE TABLE tags (
    id   SERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    CONSTRAINT tags_name_lower CHECK (name = lower(name))
);
INSERT INTO tags (name) VALUES ('news'), ('release');

-- migrate:down
DROP TABLE tags;

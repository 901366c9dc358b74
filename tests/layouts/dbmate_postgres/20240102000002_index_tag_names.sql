-- migrate:up transaction:false
CREATE UNIQUE INDEX CONCURRENTLY tags_name ON tags (name);

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY tags_name;

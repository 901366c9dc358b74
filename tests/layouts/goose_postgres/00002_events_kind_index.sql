-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY events_kind ON events (kind);

-- +goose Down
DROP INDEX CONCURRENTLY events_kind;

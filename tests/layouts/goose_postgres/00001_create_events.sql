-- +goose Up
CREATE TABLE events (
    id      BIGSERIAL PRIMARY KEY,
    kind    TEXT NOT NULL,
    payload JSONB NOT NULL DEFAULT '{}'
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION events_of(k TEXT) RETURNS SETOF events AS $body$
    SELECT * FROM events WHERE kind = k;
$body$ LANGUAGE sql STABLE;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION events_of(TEXT);
DROP TABLE events;

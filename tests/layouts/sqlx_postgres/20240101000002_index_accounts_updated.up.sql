-- no-transaction
CREATE INDEX CONCURRENTLY accounts_updated_at ON accounts (updated_at);

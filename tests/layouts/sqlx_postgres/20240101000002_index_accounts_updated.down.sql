-- no-transaction
DROP INDEX CONCURRENTLY accounts_updated_at;

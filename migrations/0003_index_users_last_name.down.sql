DROP INDEX users_last_name;

ALTER TABLE users DROP COLUMN full_name;
ALTER TABLE profiles RENAME COLUMN about TO bio;

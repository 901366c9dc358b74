-- Profiles say "about" in the product; users get a display name that a
-- later migration fills in.
ALTER TABLE profiles RENAME COLUMN bio TO about;
ALTER TABLE users ADD COLUMN full_name TEXT;

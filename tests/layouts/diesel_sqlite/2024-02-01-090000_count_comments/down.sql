DROP TRIGGER comments_count;
ALTER TABLE posts DROP COLUMN comment_count;

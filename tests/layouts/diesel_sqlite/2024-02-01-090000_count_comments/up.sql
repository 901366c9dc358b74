ALTER TABLE posts ADD COLUMN comment_count INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER comments_count AFTER INSERT ON comments
BEGIN
    UPDATE posts SET comment_count = comment_count + 1 WHERE id = NEW.post_id;
END;

CREATE PROCEDURE reset_totals()
BEGIN
    UPDATE orders SET total = 0;
    SELECT COUNT(*) FROM orders;
END;

CREATE TRIGGER orders_no_negative BEFORE INSERT ON orders
FOR EACH ROW
BEGIN
    IF NEW.total < 0 THEN
        SET NEW.total = 0;
    END IF;
END;

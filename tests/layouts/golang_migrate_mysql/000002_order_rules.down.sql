DROP TRIGGER orders_no_negative;
DROP PROCEDURE reset_totals;

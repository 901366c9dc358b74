-- This file was automatically created by Diesel to setup helper functions
-- and other internal bookkeeping.
SELECT 1;

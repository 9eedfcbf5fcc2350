-- Nothing changes on SQLite: schema version 4 moves PostgreSQL's usage
-- rollup from a statement trigger to a row trigger, which SQLite's trigger
-- (0002) has been from the start. Both backends keep the same versions.
SELECT 1;

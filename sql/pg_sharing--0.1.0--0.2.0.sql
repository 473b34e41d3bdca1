-- pg_sharing 0.1.0 -> 0.2.0.
-- A released upgrade script is never edited; the next change gets a new file.
-- A fresh 0.2.0 install creates the same objects from sql/api.sql, sql/audit.sql
-- and sql/finalize.sql (tests/upgrade.rs compares the two).
\echo Use "ALTER EXTENSION pg_sharing UPDATE TO '0.2.0'" to load this file. \quit

-- The viewer's own effective permissions (what an application draws its menus from).
CREATE FUNCTION sharing.my_permissions() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT sharing.effective_perms(sharing.current_viewer()) $$;
REVOKE ALL ON FUNCTION sharing.my_permissions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sharing.my_permissions() TO PUBLIC;

-- "Who changed this role?": the audit log by table and time.
CREATE INDEX audit_log_table_at_idx ON sharing.audit_log (table_name, at);

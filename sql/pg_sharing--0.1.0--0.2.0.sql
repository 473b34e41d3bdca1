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

-- Policies decide every row of the viewer's company by one comparison when the
-- viewer's level is `all`. Tables protected under 0.1.0 keep their (equivalent,
-- slower) policies until sharing.protect() is run on them again.
CREATE FUNCTION sharing."_all_rows_company"(
	"object_type" TEXT,
	"action" TEXT,
	"viewer" bigint
) RETURNS bigint
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', '_all_rows_company_wrapper';
REVOKE ALL ON FUNCTION sharing._all_rows_company(text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._all_rows_company(text, text, bigint) TO PUBLIC;

CREATE OR REPLACE FUNCTION sharing._policy_expr(object_type text, action text, owner_column name,
                                     company_column name, assignee_column name) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('(%I = (SELECT sharing._all_rows_company(%L::text, %L::text, (SELECT sharing.current_viewer())))'
                  ' OR sharing.can_access(%L::text, %L::text, %I, %I, (SELECT sharing.current_viewer()), %s))',
                  company_column, object_type, action,
                  object_type, action, owner_column, company_column,
                  CASE WHEN assignee_column IS NULL THEN 'NULL::bigint' ELSE quote_ident(assignee_column) END)
$$;
-- Model statistics for monitoring and benchmarks (users, roles, bytes, rebuild time).
CREATE FUNCTION sharing."_model_stats"() RETURNS jsonb
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', '_model_stats_wrapper';
REVOKE ALL ON FUNCTION sharing._model_stats() FROM PUBLIC;

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

-- The configuration snapshot is rendered as json (faster to build than jsonb).
CREATE OR REPLACE FUNCTION sharing._org_snapshot() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT json_build_object(
  'object_types', COALESCE((SELECT json_agg(json_build_object(
        'name', t.name, 'org_wide_default', t.org_wide_default,
        'grant_via_hierarchy', t.grant_via_hierarchy) ORDER BY t.name)
      FROM sharing.object_types t), '[]'::json),
  'users', COALESCE((SELECT json_agg(json_build_object(
        'id', u.id, 'company_id', u.company_id, 'name', u.name, 'status', u.status,
        'is_superuser', u.is_superuser, 'is_super_company_member', u.is_super_company_member))
      FROM sharing.users u), '[]'::json),
  'roles', COALESCE((SELECT json_agg(json_build_object(
        'id', r.id, 'company_id', r.company_id, 'name', r.name, 'reports_to', r.reports_to,
        'based_on', r.based_on, 'is_admin', r.is_admin, 'is_default', r.is_default))
      FROM sharing.roles r), '[]'::json),
  'role_permissions', COALESCE((SELECT json_agg(json_build_object(
        'role_id', p.role_id, 'object_type', p.object_type, 'action', p.action, 'level', p.level))
      FROM sharing.role_permissions p), '[]'::json),
  'role_privileges', COALESCE((SELECT json_agg(json_build_object(
        'role_id', p.role_id, 'privilege', p.privilege))
      FROM sharing.role_privileges p), '[]'::json),
  'user_roles', COALESCE((SELECT json_agg(json_build_object(
        'user_id', m.user_id, 'role_id', m.role_id))
      FROM sharing.user_roles m), '[]'::json),
  'sharing_rules', COALESCE((SELECT json_agg(json_build_object(
        'id', s.id, 'company_id', s.company_id, 'object_type', s.object_type,
        'source_role', s.source_role, 'source_scope', s.source_scope,
        'target_role', s.target_role, 'target_scope', s.target_scope, 'access', s.access))
      FROM sharing.sharing_rules s), '[]'::json),
  'agreements', COALESCE((SELECT json_agg(json_build_object(
        'id', a.id, 'grantor_company', a.grantor_company, 'grantee_company', a.grantee_company))
      FROM sharing.agreements a), '[]'::json),
  'agreement_permissions', COALESCE((SELECT json_agg(json_build_object(
        'agreement_id', p.agreement_id, 'object_type', p.object_type, 'action', p.action))
      FROM sharing.agreement_permissions p), '[]'::json)
)::text
$$;

-- Decisions stay in the leader process: a parallel worker would compile the whole
-- organization again for every query.
ALTER FUNCTION sharing.can_access(text, text, bigint, bigint, bigint, bigint) PARALLEL RESTRICTED;
ALTER FUNCTION sharing.can_see(bigint, bigint) PARALLEL RESTRICTED;
ALTER FUNCTION sharing.reach(bigint) PARALLEL RESTRICTED;

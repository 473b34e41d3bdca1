-- pg_sharing 0.2.0 -> 0.3.0: planner support for the policies (issue 4), faster rebuilds.
-- A released upgrade script is never edited; the next change gets a new file.
-- A fresh 0.3.0 install creates the same objects (tests/upgrade.rs compares them).
\echo Use "ALTER EXTENSION pg_sharing UPDATE TO '0.3.0'" to load this file. \quit

-- The planner support function and the functions policies are rewritten into
-- (src/sql_api/planner.rs).

CREATE FUNCTION sharing."_access_support"(
	"request" internal /* Internal */
) RETURNS internal /* Internal */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_access_support_wrapper';

CREATE FUNCTION sharing."_all_rows_company_current"(
	"object_type" TEXT, /* Option < & str > */
	"action" TEXT /* Option < & str > */
) RETURNS bigint /* Option < i64 > */
STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_all_rows_company_current_wrapper';

CREATE FUNCTION sharing."_can_access_for"(
	"object_type" TEXT, /* Option < & str > */
	"action" TEXT, /* Option < & str > */
	"owner" bigint, /* Option < i64 > */
	"company" bigint, /* Option < i64 > */
	"viewer" bigint, /* Option < i64 > */
	"assignee" bigint, /* Option < i64 > */
	"planned_viewer" bigint /* Option < i64 > */
) RETURNS bool /* bool */
STABLE PARALLEL RESTRICTED SUPPORT sharing."_access_support" COST 10
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_can_access_for_wrapper';

CREATE FUNCTION sharing."_decide_current"(
	"object_type" TEXT, /* Option < & str > */
	"action" TEXT, /* Option < & str > */
	"owner" bigint, /* Option < i64 > */
	"company" bigint, /* Option < i64 > */
	"assignee" bigint /* Option < i64 > */
) RETURNS bool /* bool */
STABLE PARALLEL SAFE COST 10
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_decide_current_wrapper';

CREATE FUNCTION sharing."_filter_holds"(
	"object_type" TEXT, /* Option < & str > */
	"action" TEXT, /* Option < & str > */
	"owners" bigint[], /* :: std :: option :: Option < Vec < i64 > > */
	"company" bigint /* Option < i64 > */
) RETURNS bool /* bool */
STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_filter_holds_wrapper';

CREATE FUNCTION sharing."_forget_plans"(
	"rel" oid /* pg_sys :: Oid */
) RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_forget_plans_wrapper';

CREATE FUNCTION sharing."_index_owners"(
	"object_type" TEXT, /* Option < & str > */
	"action" TEXT, /* Option < & str > */
	"viewer" bigint /* Option < i64 > */
) RETURNS bigint[] /* Vec < i64 > */
STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_index_owners_wrapper';

CREATE FUNCTION sharing."_index_owners_current"(
	"object_type" TEXT, /* Option < & str > */
	"action" TEXT /* Option < & str > */
) RETURNS bigint[] /* Vec < i64 > */
STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_index_owners_current_wrapper';

CREATE FUNCTION sharing."_policy"(
	"object_type" TEXT, /* Option < & str > */
	"action" TEXT, /* Option < & str > */
	"owner" bigint, /* Option < i64 > */
	"company" bigint, /* Option < i64 > */
	"viewer" bigint, /* Option < i64 > */
	"assignee" bigint, /* Option < i64 > */
	"all_rows_company" bigint /* Option < i64 > */
) RETURNS bool /* bool */
STABLE PARALLEL RESTRICTED SUPPORT sharing."_access_support" COST 10
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_policy_wrapper';

-- Always true: the owner-index access path the planner adds next to a viewer's
-- inlined filter (src/sql_api/planner.rs). Its support function offers a lossy
-- `owner = ANY(sharing._index_owners_current(...))` index condition; the filter decides.
CREATE FUNCTION sharing._owner_hint(object_type text, action text, owner bigint,
                                    planned_viewer bigint) RETURNS bool
LANGUAGE c STABLE PARALLEL SAFE COST 0.01
SUPPORT sharing._access_support
AS 'MODULE_PATHNAME', '_owner_hint';

ALTER FUNCTION sharing.can_access(text, text, bigint, bigint, bigint, bigint)
    SUPPORT sharing._access_support COST 10;

REVOKE ALL ON FUNCTION sharing._access_support(internal) FROM PUBLIC;
REVOKE ALL ON FUNCTION sharing._all_rows_company_current(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION sharing._can_access_for(text, text, bigint, bigint, bigint, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION sharing._decide_current(text, text, bigint, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION sharing._filter_holds(text, text, bigint[], bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION sharing._forget_plans(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION sharing._index_owners(text, text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION sharing._index_owners_current(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION sharing._policy(text, text, bigint, bigint, bigint, bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION sharing._owner_hint(text, text, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._all_rows_company_current(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._can_access_for(text, text, bigint, bigint, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._decide_current(text, text, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._filter_holds(text, text, bigint[], bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._index_owners(text, text, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._index_owners_current(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._policy(text, text, bigint, bigint, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._owner_hint(text, text, bigint, bigint) TO PUBLIC;

-- Configuration statements make other sessions re-plan protected tables.
CREATE OR REPLACE FUNCTION sharing._bump_generation() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE sharing._generation SET gen = nextval('sharing._generation_seq');
    -- Plans of protected tables may be shaped for the old configuration
    -- (src/sql_api/planner.rs): other sessions make them again after this commits.
    PERFORM sharing._forget_plans(c.oid)
       FROM sharing.protected_tables pt
      CROSS JOIN LATERAL sharing._relation_tree(pt.table_name) t
       JOIN pg_catalog.pg_class c ON c.oid = t.relid;
    RETURN NULL;
END
$$;

-- Policies call sharing._policy, which the planner rewrites per viewer.
CREATE OR REPLACE FUNCTION sharing._policy_expr(object_type text, action text, owner_column name,
                                     company_column name, assignee_column name) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('sharing._policy(%L::text, %L::text, %I, %I, (SELECT sharing.current_viewer()), %s,'
                  ' (SELECT sharing._all_rows_company(%L::text, %L::text, (SELECT sharing.current_viewer()))))',
                  object_type, action, owner_column, company_column,
                  CASE WHEN assignee_column IS NULL THEN 'NULL::bigint' ELSE quote_ident(assignee_column) END,
                  object_type, action)
$$;

-- Rebuilds read the users and their roles as arrays, the rest as JSON.
CREATE OR REPLACE FUNCTION sharing._org_snapshot() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT json_build_object(
  'object_types', COALESCE((SELECT json_agg(json_build_object(
        'name', t.name, 'org_wide_default', t.org_wide_default,
        'grant_via_hierarchy', t.grant_via_hierarchy) ORDER BY t.name)
      FROM sharing.object_types t), '[]'::json),
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

-- The users and their roles as parallel arrays (src/sql_api/snapshot.rs): at tens
-- of thousands of users, one array per column is read far faster than JSON.
-- The aggregates of one query level see the rows in the same order.
CREATE FUNCTION sharing._org_people(OUT user_ids bigint[], OUT companies bigint[],
                                    OUT statuses text[], OUT superusers bool[],
                                    OUT super_members bool[], OUT member_users bigint[],
                                    OUT member_roles bigint[])
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT u.ids, u.companies, u.statuses, u.superusers, u.super_members, m.users, m.roles
  FROM (SELECT array_agg(x.id) AS ids, array_agg(x.company_id) AS companies,
               array_agg(x.status::text) AS statuses, array_agg(x.is_superuser) AS superusers,
               array_agg(x.is_super_company_member) AS super_members
          FROM sharing.users x) u,
       (SELECT array_agg(y.user_id) AS users, array_agg(y.role_id) AS roles
          FROM sharing.user_roles y) m
$$;
REVOKE ALL ON FUNCTION sharing._org_people() FROM PUBLIC;

-- The WITH CHECK expression for one action: the full decision for the statement's
-- viewer, resolved inside the call. A check runs on the rows written, never as a
-- scan condition, so it needs none of the planner's shapes (and no InitPlan).
CREATE FUNCTION sharing._check_expr(object_type text, action text, owner_column name,
                                    company_column name, assignee_column name) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('sharing._decide_current(%L::text, %L::text, %I, %I, %s)',
                  object_type, action, owner_column, company_column,
                  CASE WHEN assignee_column IS NULL THEN 'NULL::bigint' ELSE quote_ident(assignee_column) END)
$$;
REVOKE ALL ON FUNCTION sharing._check_expr(text, text, name, name, name) FROM PUBLIC;

-- Policies, FORCE row level security and the TRUNCATE guard on one relation.
CREATE OR REPLACE FUNCTION sharing._apply_policies(tbl regclass, object_type text, owner_column name,
                                        company_column name, assignee_column name) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._drop_policies(tbl);
    EXECUTE format('CREATE POLICY sharing_select ON %s AS PERMISSIVE FOR SELECT TO PUBLIC USING (%s)', tbl,
                   sharing._policy_expr(object_type, 'view', owner_column, company_column, assignee_column));
    EXECUTE format('CREATE POLICY sharing_insert ON %s AS PERMISSIVE FOR INSERT TO PUBLIC WITH CHECK (%s)', tbl,
                   sharing._check_expr(object_type, 'create', owner_column, company_column, NULL));
    EXECUTE format('CREATE POLICY sharing_update ON %s AS PERMISSIVE FOR UPDATE TO PUBLIC USING (%s) WITH CHECK (%s)', tbl,
                   sharing._policy_expr(object_type, 'edit', owner_column, company_column, assignee_column),
                   sharing._check_expr(object_type, 'edit', owner_column, company_column, assignee_column));
    EXECUTE format('CREATE POLICY sharing_delete ON %s AS PERMISSIVE FOR DELETE TO PUBLIC USING (%s)', tbl,
                   sharing._policy_expr(object_type, 'delete', owner_column, company_column, assignee_column));
    -- TRUNCATE ignores row level security: only superusers may empty a protected table.
    EXECUTE format('CREATE TRIGGER sharing_no_truncate BEFORE TRUNCATE ON %s
                    FOR EACH STATEMENT EXECUTE FUNCTION sharing._refuse_truncate()', tbl);
    -- Last: this ALTER TABLE fires the partition event trigger, which then finds
    -- the policies already in place.
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
END
$$;

-- Every protected table (and partition) gets the new policies now.
SELECT sharing._apply_policies(t.relid, pt.object_type, pt.owner_column, pt.company_column, pt.assignee_column)
  FROM sharing.protected_tables pt
 CROSS JOIN LATERAL sharing._relation_tree(pt.table_name) t
  JOIN pg_catalog.pg_class c ON c.oid = t.relid;

-- The configuration as one JSON document, read in the caller's snapshot: every
-- table (companies: their owners) but the two large ones (users, user_roles), which _org_people() returns as
-- arrays. The Rust model (src/model/org.rs, OrgSnapshot) deserializes this shape.
CREATE FUNCTION sharing._org_snapshot() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT json_build_object(
  -- only the companies that have an owner: all the model needs of them
  'companies', COALESCE((SELECT json_agg(json_build_object('id', c.id, 'owner_user', c.owner_user))
      FROM sharing.companies c WHERE c.owner_user IS NOT NULL), '[]'::json),
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

-- The users and their roles as parallel arrays (src/backend/loader.rs): at tens
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

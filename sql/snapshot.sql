-- The whole configuration as one JSON document, read in the caller's snapshot.
-- The Rust model (src/model/org.rs, OrgSnapshot) deserializes exactly this shape.
CREATE FUNCTION sharing._org_snapshot() RETURNS text
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

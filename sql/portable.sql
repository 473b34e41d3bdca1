-- pg_sharing: the rows of one company for sharing.export_company (src/sql_api/portable.rs
-- turns them into the portable document). Timestamps are UTC ISO 8601, so a document
-- does not depend on the session's TimeZone.
CREATE FUNCTION sharing._company_rows(company_id bigint) RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
WITH c AS (SELECT * FROM sharing.companies WHERE id = _company_rows.company_id),
     r AS (SELECT x.* FROM sharing.roles x JOIN c ON x.company_id = c.id),
     u AS (SELECT x.* FROM sharing.users x JOIN c ON x.company_id = c.id),
     a AS (SELECT x.* FROM sharing.agreements x JOIN c ON x.grantor_company = c.id)
SELECT jsonb_build_object(
  'company', (SELECT jsonb_build_object('id', c.id, 'name', c.name, 'owner_user', c.owner_user) FROM c),
  'object_types', COALESCE((SELECT jsonb_agg(to_jsonb(t)) FROM sharing.object_types t), '[]'),
  'roles', COALESCE((SELECT jsonb_agg(jsonb_build_object(
        'id', r.id, 'name', r.name, 'description', r.description, 'reports_to', r.reports_to,
        'based_on', r.based_on, 'is_admin', r.is_admin, 'is_default', r.is_default,
        'is_protected', r.is_protected, 'is_copyable', r.is_copyable)) FROM r), '[]'),
  'role_permissions', COALESCE((SELECT jsonb_agg(jsonb_build_object(
        'role_id', p.role_id, 'object_type', p.object_type, 'action', p.action, 'level', p.level))
      FROM sharing.role_permissions p JOIN r ON r.id = p.role_id), '[]'),
  'role_privileges', COALESCE((SELECT jsonb_agg(jsonb_build_object('role_id', p.role_id, 'privilege', p.privilege))
      FROM sharing.role_privileges p JOIN r ON r.id = p.role_id), '[]'),
  'users', COALESCE((SELECT jsonb_agg(jsonb_build_object(
        'id', u.id, 'name', u.name, 'status', u.status, 'is_superuser', u.is_superuser,
        'is_super_company_member', u.is_super_company_member, 'db_role', u.db_role,
        'department', u.department)) FROM u), '[]'),
  'user_roles', COALESCE((SELECT jsonb_agg(jsonb_build_object(
        'user_id', m.user_id, 'role_id', m.role_id,
        'assigned_at', to_char(m.assigned_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))
      FROM sharing.user_roles m JOIN u ON u.id = m.user_id), '[]'),
  'sharing_rules', COALESCE((SELECT jsonb_agg(to_jsonb(s)) FROM sharing.sharing_rules s JOIN c ON s.company_id = c.id), '[]'),
  'agreements', COALESCE((SELECT jsonb_agg(jsonb_build_object(
        'id', a.id, 'grantee_company', (SELECT g.name FROM sharing.companies g WHERE g.id = a.grantee_company),
        'notes', a.notes,
        'created_at', to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))) FROM a), '[]'),
  'agreement_permissions', COALESCE((SELECT jsonb_agg(jsonb_build_object(
        'agreement_id', p.agreement_id, 'object_type', p.object_type, 'action', p.action))
      FROM sharing.agreement_permissions p JOIN a ON a.id = p.agreement_id), '[]'),
  -- Record shares: a role by its id (named by the model), timestamps in UTC, an
  -- infinite one as 'infinity' / '-infinity' (to_char gives NULL for those).
  'record_shares', COALESCE((SELECT jsonb_agg(jsonb_build_object(
        'object_type', s.object_type, 'record_id', s.record_id, 'user_id', s.user_id,
        'role_id', s.role_id, 'scope', s.scope, 'access', s.access,
        'valid_from', CASE WHEN isfinite(s.valid_from)
                           THEN to_char(s.valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                           ELSE s.valid_from::text END,
        'valid_until', CASE WHEN isfinite(s.valid_until)
                            THEN to_char(s.valid_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                            ELSE s.valid_until::text END,
        'note', s.note, 'granted_by', s.granted_by))
      FROM sharing.record_shares s JOIN c ON s.company_id = c.id), '[]')
)::text
$$;

-- pg_sharing: the audit log (docs/sql-reference.md, "Views": `audit_log`). Every insert, update and delete on every
-- sharing table, with when, the database role really asking, the viewer, the
-- table, the operation and the old and new rows.

CREATE TABLE sharing.audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    db_role     name NOT NULL,
    viewer      bigint,
    company_id  bigint,          -- the company the row belongs to (NULL: global rows)
    table_name  text NOT NULL,
    operation   text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    old_row     jsonb,
    new_row     jsonb
);
CREATE INDEX audit_log_company_at_idx ON sharing.audit_log (company_id, at);
-- Since 0.2.0: "who changed this role?"
CREATE INDEX audit_log_table_at_idx ON sharing.audit_log (table_name, at);
SELECT pg_catalog.pg_extension_config_dump('sharing.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('sharing.audit_log_id_seq', '');

-- The company a row of a sharing table belongs to, from the row itself or its parents.
CREATE FUNCTION sharing._row_company(table_name text, r jsonb) RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE table_name
        WHEN 'companies' THEN (r->>'id')::bigint
        WHEN 'users' THEN (r->>'company_id')::bigint
        WHEN 'roles' THEN (r->>'company_id')::bigint
        WHEN 'sharing_rules' THEN (r->>'company_id')::bigint
        WHEN 'record_shares' THEN (r->>'company_id')::bigint
        WHEN 'agreements' THEN (r->>'grantor_company')::bigint
        WHEN 'user_roles' THEN (SELECT u.company_id FROM sharing.users u WHERE u.id = (r->>'user_id')::bigint)
        WHEN 'role_permissions' THEN (SELECT x.company_id FROM sharing.roles x WHERE x.id = (r->>'role_id')::bigint)
        WHEN 'role_privileges' THEN (SELECT x.company_id FROM sharing.roles x WHERE x.id = (r->>'role_id')::bigint)
        WHEN 'agreement_permissions' THEN (SELECT a.grantor_company FROM sharing.agreements a
                                            WHERE a.id = (r->>'agreement_id')::bigint)
    END
$$;

CREATE FUNCTION sharing._audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_j jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_j jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
BEGIN
    INSERT INTO sharing.audit_log (db_role, viewer, company_id, table_name, operation, old_row, new_row)
    VALUES (sharing._asking_role(), sharing.current_viewer(),
            COALESCE(sharing._row_company(TG_TABLE_NAME, new_j), sharing._row_company(TG_TABLE_NAME, old_j)),
            TG_TABLE_NAME, TG_OP, old_j, new_j);
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['companies', 'object_types', 'users', 'roles', 'user_roles',
                             'role_permissions', 'role_privileges', 'sharing_rules',
                             'agreements', 'agreement_permissions', 'trusted_app_roles',
                             'protected_tables'] LOOP
        EXECUTE format('CREATE TRIGGER z_audit AFTER INSERT OR UPDATE OR DELETE ON sharing.%I
                          FOR EACH ROW EXECUTE FUNCTION sharing._audit()', t);
    END LOOP;
END
$$;

-- Tenant isolation: application users read only their own company's entries;
-- without a viewer, nothing. Superusers (DBAs) bypass row level security.
ALTER TABLE sharing.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_own_company ON sharing.audit_log FOR SELECT
    USING (company_id = (SELECT sharing._viewer_company())
           AND (table_name <> 'record_shares'
                -- a share's entries: as the share itself (sql/shares.sql), without
                -- the record lookup
                OR (SELECT sharing._config_manages_sharing())
                OR (coalesce(new_row, old_row) ->> 'user_id')::bigint = (SELECT sharing.current_viewer())
                OR (coalesce(new_row, old_row) ->> 'granted_by')::bigint = (SELECT sharing.current_viewer())));

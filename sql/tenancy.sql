-- pg_sharing: who reads and writes the extension's own tables (docs/security.md,
-- "The trust model").
--
-- * Internal tables (the generation, the registry of protected tables, the standard
--   roles, the audit log) are written only by the extension's own functions, whatever
--   table privileges a role was granted: a guard refuses every other writer.
-- * Configuration tables are row-level secured: outside a DBA session an acting
--   viewer reads and changes only their own company's rows (agreements: those where
--   their company is a party); without a viewer and without a DBA's role, nothing.
--   The extension's SECURITY DEFINER functions run as the tables' owner, which row
--   level security does not restrict (it is not FORCEd), so triggers and the
--   compiled model still see every row.

-- Refuse a write to an internal table unless it comes from the extension itself
-- (the table's owner, i.e. a SECURITY DEFINER function of the extension) or from a
-- PostgreSQL superuser (who could disable the guard anyway, and restores dumps).
CREATE FUNCTION sharing._internal_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles r
                    WHERE r.rolname = current_user
                      AND (r.rolsuper OR r.oid = (SELECT c.relowner FROM pg_class c WHERE c.oid = TG_RELID))) THEN
        RAISE EXCEPTION '% on sharing.% is refused: it is internal to pg_sharing', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'the extension keeps this table itself; use the documented functions (protect, unprotect) or ask a superuser';
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['_generation', '_share_generation', '_changes', 'protected_tables', '_standard_roles', 'audit_log',
                              '_citus_key', '_citus_pending', '_citus_unsent'] LOOP
        EXECUTE format('CREATE TRIGGER a_internal_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
                          ON sharing.%I FOR EACH STATEMENT EXECUTE FUNCTION sharing._internal_guard()', t);
        -- Also under session_replication_role = replica.
        EXECUTE format('ALTER TABLE sharing.%I ENABLE ALWAYS TRIGGER a_internal_guard', t);
    END LOOP;
END
$$;

-- No role but the owner keeps a write privilege on an internal table, whatever is
-- granted (a GRANT ... ON ALL TABLES IN SCHEMA sharing included): the guard above
-- already refuses the writes, but UPDATE, DELETE or TRUNCATE also let a role LOCK the
-- table, and every protected statement reads the generation (docs/security.md).
-- After each GRANT, those privileges on the internal tables are revoked again.
CREATE FUNCTION sharing._internal_tables() RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY['_generation', '_share_generation', '_changes', 'protected_tables', '_standard_roles',
                 'audit_log', '_citus_key', '_citus_pending', '_citus_unsent']
$$;

-- Revokes from every role but the owner: write privileges on the internal tables,
-- table-wide and per column (a column's UPDATE lets a role lock rows with SELECT …
-- FOR UPDATE); all but INSERT on sharing._citus_changes (docs/scaling.md); and
-- USAGE and UPDATE on the sequences that number generations and Citus changes
-- (setval would bring an old generation back).
CREATE FUNCTION sharing._revoke_internal_writes() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT DISTINCT format('%s ON %s%s', p.privs, CASE WHEN c.relkind = 'S' THEN 'SEQUENCE ' ELSE '' END,
                               c.oid::regclass) AS what, a.grantee
          FROM pg_class c
         CROSS JOIN LATERAL aclexplode(c.relacl) a
         CROSS JOIN LATERAL (SELECT CASE WHEN c.relkind = 'S' THEN 'USAGE, UPDATE'
                                         WHEN c.relname = '_citus_changes' THEN 'SELECT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'
                                         ELSE 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER' END AS privs) p
         WHERE c.relnamespace = 'sharing'::regnamespace
           AND a.grantee <> c.relowner
           AND ((c.relname = ANY (sharing._internal_tables())
                 AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'))
                OR (c.relname = '_citus_changes' AND a.privilege_type <> 'INSERT')
                OR (c.relname IN ('_generation_seq', '_citus_seq', '_citus_seen')
                    AND a.privilege_type IN ('USAGE', 'UPDATE')))
        UNION
        SELECT DISTINCT format('INSERT (%1$I), UPDATE (%1$I), REFERENCES (%1$I) ON %2$s', t.attname, c.oid::regclass), a.grantee
          FROM pg_class c
          JOIN pg_attribute t ON t.attrelid = c.oid AND t.attacl IS NOT NULL
         CROSS JOIN LATERAL aclexplode(t.attacl) a
         WHERE c.relnamespace = 'sharing'::regnamespace
           AND c.relname = ANY (sharing._internal_tables())
           AND a.grantee <> c.relowner
           AND a.privilege_type IN ('INSERT', 'UPDATE', 'REFERENCES') LOOP
        EXECUTE format('REVOKE %s FROM %s', g.what,
                       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END);
    END LOOP;
END
$$;

CREATE FUNCTION sharing._keep_internal_tables_read_only() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._revoke_internal_writes();
END
$$;
CREATE EVENT TRIGGER sharing_internal_tables_read_only ON ddl_command_end
    WHEN TAG IN ('GRANT')
    EXECUTE FUNCTION sharing._keep_internal_tables_read_only();

-- Tenant isolation of the configuration. Each policy reads the two settings once
-- per statement (InitPlans).
ALTER TABLE sharing.companies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sharing.companies
    USING ((SELECT sharing._config_all()) OR id = (SELECT sharing._config_company()));

ALTER TABLE sharing.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sharing.users
    USING ((SELECT sharing._config_all()) OR company_id = (SELECT sharing._config_company()));

ALTER TABLE sharing.roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sharing.roles
    USING ((SELECT sharing._config_all()) OR company_id = (SELECT sharing._config_company()));

ALTER TABLE sharing.user_roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sharing.user_roles
    USING ((SELECT sharing._config_all())
           OR EXISTS (SELECT 1 FROM sharing.users u
                       WHERE u.id = user_id AND u.company_id = (SELECT sharing._config_company())));

ALTER TABLE sharing.role_permissions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sharing.role_permissions
    USING ((SELECT sharing._config_all())
           OR EXISTS (SELECT 1 FROM sharing.roles r
                       WHERE r.id = role_id AND r.company_id = (SELECT sharing._config_company())));

ALTER TABLE sharing.role_privileges ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sharing.role_privileges
    USING ((SELECT sharing._config_all())
           OR EXISTS (SELECT 1 FROM sharing.roles r
                       WHERE r.id = role_id AND r.company_id = (SELECT sharing._config_company())));

ALTER TABLE sharing.sharing_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sharing.sharing_rules
    USING ((SELECT sharing._config_all()) OR company_id = (SELECT sharing._config_company()));

ALTER TABLE sharing.agreements ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sharing.agreements
    USING ((SELECT sharing._config_all())
           OR grantor_company = (SELECT sharing._config_company())
           OR grantee_company = (SELECT sharing._config_company()));

ALTER TABLE sharing.agreement_permissions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sharing.agreement_permissions
    USING ((SELECT sharing._config_all())
           OR EXISTS (SELECT 1 FROM sharing.agreements a
                       WHERE a.id = agreement_id
                         AND (SELECT sharing._config_company()) IN (a.grantor_company, a.grantee_company)));

-- Which roles are standard: readable like the roles themselves.
ALTER TABLE sharing._standard_roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sharing._standard_roles
    USING ((SELECT sharing._config_all())
           OR EXISTS (SELECT 1 FROM sharing.roles r
                       WHERE r.id = role_id AND r.company_id = (SELECT sharing._config_company())));

-- Global settings: object types are read by every acting party (they name what the
-- permissions are about) and changed by DBA sessions only (their trigger says so);
-- the trusted roles are read by DBA sessions only.

ALTER TABLE sharing.trusted_app_roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY dba ON sharing.trusted_app_roles USING ((SELECT sharing._config_all()));

-- The views for comparing roles and listing members read as their caller, so
-- the policies above apply to them.
ALTER VIEW sharing.role_permission_matrix SET (security_invoker = true);
ALTER VIEW sharing.role_privilege_matrix SET (security_invoker = true);
ALTER VIEW sharing.role_members SET (security_invoker = true);

-- No escalation by effect (src/backend/effect.rs): every statement that changes a
-- configuration table is judged once its rows are all written, by comparing what
-- every user may do before and after it. SECURITY DEFINER so that the caller needs
-- no privilege on the two functions; they judge the role really asking.
CREATE FUNCTION sharing._effect_before() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._effect_baseline();
    RETURN NULL;
END
$$;

CREATE FUNCTION sharing._effect_after() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._effect_check();
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['companies', 'object_types', 'users', 'roles', 'user_roles',
                             'role_permissions', 'role_privileges', 'sharing_rules',
                             'agreements', 'agreement_permissions', 'trusted_app_roles'] LOOP
        -- "a_baseline" sorts before "a_bump_generation": the baseline is the state
        -- the statement's snapshot sees, before the generation moves.
        EXECUTE format('CREATE TRIGGER a_baseline BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
                          ON sharing.%I FOR EACH STATEMENT EXECUTE FUNCTION sharing._effect_before()', t);
        EXECUTE format('CREATE TRIGGER z_effect AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
                          ON sharing.%I FOR EACH STATEMENT EXECUTE FUNCTION sharing._effect_after()', t);
    END LOOP;
END
$$;

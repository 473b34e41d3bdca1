-- pg_sharing 0.3.0 -> 0.4.0: authority and hardening (docs/security.md).
-- A released upgrade script is never edited; the next change gets a new file.
-- A fresh 0.4.0 install creates the same objects (tests/upgrade.rs compares them);
-- the functions below are what scripts/upgrade-diff.py lists.
\echo Use "ALTER EXTENSION pg_sharing UPDATE TO '0.4.0'" to load this file. \quit

-- The DBAs besides superusers, and the standard roles known by identity.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'sharing_admin') THEN
        CREATE ROLE sharing_admin NOLOGIN;
    END IF;
END
$$;

CREATE TABLE sharing._standard_roles (
    role_id bigint PRIMARY KEY REFERENCES sharing.roles (id) ON DELETE CASCADE,
    kind    text NOT NULL CHECK (kind IN ('administrator', 'manager', 'user'))
);
SELECT pg_catalog.pg_extension_config_dump('sharing._standard_roles', '');
-- 0.3.0 knew the standard roles by name: the roles it would have treated as standard.
INSERT INTO sharing._standard_roles (role_id, kind)
SELECT r.id, CASE r.name WHEN 'Administrator' THEN 'administrator' WHEN 'Manager' THEN 'manager' ELSE 'user' END
  FROM sharing.roles r
 WHERE r.name IN ('Administrator', 'Manager', 'User');

-- New and changed functions.
-- changed: _agreement_permissions_guard()
CREATE OR REPLACE FUNCTION sharing._agreement_permissions_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a record;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT * INTO a FROM sharing.agreements x WHERE x.id = OLD.agreement_id;
        IF FOUND THEN
            PERFORM sharing._require_grantor(a.grantor_company, a.grantee_company);
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    END IF;
    SELECT * INTO a FROM sharing.agreements x WHERE x.id = NEW.agreement_id;
    -- Either party sees the agreement (the grantee is then told it is not the grantor).
    PERFORM sharing._require_existing('agreement', NEW.agreement_id,
                                      CASE WHEN sharing._company_visible(a.grantee_company)
                                           THEN a.grantee_company ELSE a.grantor_company END);
    PERFORM sharing._require_grantor(a.grantor_company, a.grantee_company);
    PERFORM sharing._require_level(NEW.object_type, NEW.action, 'all');
    RETURN NEW;
END
$$;

-- changed: _apply_policies(regclass,text,name,name,name)
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
    -- Transfers (a new owner or company) are checked against the old row. Row
    -- triggers of a partitioned table are cloned to its partitions, present and future.
    IF NOT (SELECT c.relispartition FROM pg_class c WHERE c.oid = tbl) THEN
        EXECUTE format('CREATE TRIGGER sharing_transfer BEFORE UPDATE ON %s FOR EACH ROW
                        WHEN (OLD.%I IS DISTINCT FROM NEW.%I OR OLD.%I IS DISTINCT FROM NEW.%I)
                        EXECUTE FUNCTION sharing._transfer_guard(%L, %L, %L)',
                       tbl, owner_column, owner_column, company_column, company_column,
                       object_type, owner_column, company_column);
    END IF;
    -- Last: this ALTER TABLE fires the partition event trigger, which then finds
    -- the policies already in place.
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
END
$$;

-- new: _check_transfer(TEXT,bigint,bigint,bigint,bigint)
CREATE OR REPLACE FUNCTION "_check_transfer"(
	"object_type" TEXT, /* & str */
	"old_owner" bigint, /* Option < i64 > */
	"old_company" bigint, /* Option < i64 > */
	"new_owner" bigint, /* Option < i64 > */
	"new_company" bigint /* Option < i64 > */
) RETURNS void
STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_check_transfer_wrapper';

-- changed: _companies_seed()
CREATE OR REPLACE FUNCTION sharing._companies_seed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    admin_id bigint;
    manager_id bigint;
    user_id bigint;
BEGIN
    IF current_setting('sharing.seed_standard_roles', true) IN ('off', 'false') THEN
        RETURN NULL;
    END IF;
    INSERT INTO sharing.roles (company_id, name, description, is_admin, is_protected)
    VALUES (NEW.id, 'Administrator', 'All permissions, including administration', true, true)
    RETURNING id INTO admin_id;
    INSERT INTO sharing.roles (company_id, name, description, reports_to)
    VALUES (NEW.id, 'Manager', 'Create, view, edit and delete every record', admin_id)
    RETURNING id INTO manager_id;
    INSERT INTO sharing.roles (company_id, name, description, reports_to, is_default, is_protected)
    VALUES (NEW.id, 'User', 'Create, view, edit and delete owned records', manager_id, true, true)
    RETURNING id INTO user_id;
    -- The standard roles are known by identity, not by name (renamed, they stay standard).
    INSERT INTO sharing._standard_roles (role_id, kind)
    VALUES (admin_id, 'administrator'), (manager_id, 'manager'), (user_id, 'user');
    INSERT INTO sharing.role_permissions (role_id, object_type, action, level)
    SELECT s.role_id, t.name, a.action, s.level
      FROM (VALUES (manager_id, 'all'), (user_id, 'owned')) AS s (role_id, level)
     CROSS JOIN sharing.object_types t
     CROSS JOIN (VALUES ('create'), ('view'), ('edit'), ('delete')) AS a (action);
    RETURN NULL;
END
$$;

-- new: _company_visible(bigint)
CREATE OR REPLACE FUNCTION sharing._company_visible(company bigint) RETURNS bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT sharing._config_all() OR company = sharing._config_company() $$;

-- new: _config_all()
CREATE OR REPLACE FUNCTION "_config_all"() RETURNS bool /* bool */
STRICT STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_config_all_wrapper';

-- new: _config_company()
CREATE OR REPLACE FUNCTION "_config_company"() RETURNS bigint /* Option < i64 > */
STRICT STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_config_company_wrapper';

-- new: _dba_guard()
CREATE OR REPLACE FUNCTION sharing._dba_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._require_dba(format('change sharing.%I', TG_TABLE_NAME));
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;

-- changed: _drop_policies(regclass)
CREATE OR REPLACE FUNCTION sharing._drop_policies(tbl regclass) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
BEGIN
    EXECUTE format('DROP POLICY IF EXISTS sharing_select ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS sharing_insert ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS sharing_update ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS sharing_delete ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS sharing_no_truncate ON %s', tbl);
    IF NOT (SELECT c.relispartition FROM pg_class c WHERE c.oid = tbl) THEN
        EXECUTE format('DROP TRIGGER IF EXISTS sharing_transfer ON %s', tbl);
    END IF;
END
$$;

-- new: _effect_after()
CREATE OR REPLACE FUNCTION sharing._effect_after() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._effect_check();
    RETURN NULL;
END
$$;

-- new: _effect_baseline()
CREATE OR REPLACE FUNCTION "_effect_baseline"() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_effect_baseline_wrapper';

-- new: _effect_before()
CREATE OR REPLACE FUNCTION sharing._effect_before() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._effect_baseline();
    RETURN NULL;
END
$$;

-- new: _effect_check()
CREATE OR REPLACE FUNCTION "_effect_check"() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_effect_check_wrapper';

-- new: _internal_guard()
CREATE OR REPLACE FUNCTION sharing._internal_guard() RETURNS trigger
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

-- new: _level_incoherence(TEXT,TEXT,TEXT)
CREATE OR REPLACE FUNCTION "_level_incoherence"(
	"view_level" TEXT, /* Option < & str > */
	"edit_level" TEXT, /* Option < & str > */
	"delete_level" TEXT /* Option < & str > */
) RETURNS TEXT[] /* :: std :: option :: Option < Vec < String > > */
IMMUTABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_level_incoherence_wrapper';

-- changed: _object_types_guard()
CREATE OR REPLACE FUNCTION sharing._object_types_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._require_dba('change sharing.object_types (global to every company)');
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;

-- changed: _object_types_seed()
CREATE OR REPLACE FUNCTION sharing._object_types_seed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO sharing.role_permissions (role_id, object_type, action, level)
    SELECT s.role_id, NEW.name, a.action, CASE s.kind WHEN 'manager' THEN 'all' ELSE 'owned' END
      FROM sharing._standard_roles s
     CROSS JOIN (VALUES ('create'), ('view'), ('edit'), ('delete')) AS a (action)
     WHERE s.kind IN ('manager', 'user')
    ON CONFLICT (role_id, object_type, action) DO NOTHING;
    RETURN NULL;
END
$$;

-- new: _register_protected(regclass,text,name,name,name)
CREATE OR REPLACE FUNCTION sharing._register_protected(tbl regclass, object_type text, owner_column name,
                                            company_column name, assignee_column name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._require_table_owner(tbl);
    INSERT INTO sharing.protected_tables (table_name, object_type, owner_column, company_column, assignee_column)
    VALUES (tbl, object_type, owner_column, company_column, assignee_column)
    ON CONFLICT (table_name) DO UPDATE
       SET object_type = EXCLUDED.object_type, owner_column = EXCLUDED.owner_column,
           company_column = EXCLUDED.company_column, assignee_column = EXCLUDED.assignee_column,
           protected_at = now();
END
$$;

-- new: _require_dba(TEXT)
CREATE OR REPLACE FUNCTION "_require_dba"(
	"what" TEXT /* & str */
) RETURNS void
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_require_dba_wrapper';

-- new: _require_existing(text,bigint,bigint)
CREATE OR REPLACE FUNCTION sharing._require_existing(kind text, id bigint, company bigint) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF company IS NULL OR NOT sharing._company_visible(company) THEN
        RAISE EXCEPTION '% % does not exist', kind, coalesce(id::text, 'NULL')
            USING ERRCODE = 'foreign_key_violation',
                  HINT = format('create the %s first, in an earlier statement or an earlier part of this one', kind);
    END IF;
END
$$;

-- new: _require_role_changeable(bigint)
CREATE OR REPLACE FUNCTION "_require_role_changeable"(
	"role_id" bigint /* i64 */
) RETURNS void
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_require_role_changeable_wrapper';

-- new: _require_table_owner(regclass)
CREATE OR REPLACE FUNCTION sharing._require_table_owner(tbl regclass) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_has_role(sharing._asking_role()::name, (SELECT c.relowner FROM pg_class c WHERE c.oid = tbl), 'USAGE') THEN
        RAISE EXCEPTION 'role "%" does not own table %', sharing._asking_role(), tbl
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'only the owner of a table (or a member of its owning role) may protect or unprotect it';
    END IF;
END
$$;

-- new: _require_user_within(bigint)
CREATE OR REPLACE FUNCTION "_require_user_within"(
	"user_id" bigint /* i64 */
) RETURNS void
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_require_user_within_wrapper';

-- changed: _role_permissions_coherent()
CREATE OR REPLACE FUNCTION sharing._role_permissions_coherent() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target record;
    lv record;
    problem text[];
BEGIN
    FOR target IN
        SELECT DISTINCT x.role_id, x.object_type
          FROM (SELECT NEW.role_id, NEW.object_type WHERE TG_OP <> 'DELETE'
                UNION ALL
                SELECT OLD.role_id, OLD.object_type WHERE TG_OP <> 'INSERT') AS x (role_id, object_type)
    LOOP
        SELECT max(p.level) FILTER (WHERE p.action = 'view') AS vl,
               max(p.level) FILTER (WHERE p.action = 'edit') AS el,
               max(p.level) FILTER (WHERE p.action = 'delete') AS dl,
               (SELECT r.name FROM sharing.roles r WHERE r.id = target.role_id) AS role_name
          INTO lv
          FROM sharing.role_permissions p
         WHERE p.role_id = target.role_id AND p.object_type = target.object_type;
        -- The rule and its words are the model's (perms::incoherence), as for an import.
        problem := sharing._level_incoherence(lv.vl, lv.el, lv.dl);
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION 'incoherent permissions for role "%" (%) on "%": %',
                    lv.role_name, target.role_id, target.object_type, problem[1]
                USING ERRCODE = 'check_violation', HINT = problem[2];
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- changed: _role_permissions_guard()
CREATE OR REPLACE FUNCTION sharing._role_permissions_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    company bigint;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT r.company_id INTO company FROM sharing.roles r WHERE r.id = OLD.role_id;
        IF company IS NOT NULL AND sharing._company_exists(company) THEN
            PERFORM sharing._require_privilege('manage_roles', company);
            PERFORM sharing._require_role_changeable(OLD.role_id);
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    END IF;
    SELECT r.company_id INTO company FROM sharing.roles r WHERE r.id = NEW.role_id;
    PERFORM sharing._require_existing('role', NEW.role_id, company);
    PERFORM sharing._require_privilege('manage_roles', company);
    PERFORM sharing._require_role_changeable(NEW.role_id);
    PERFORM sharing._require_level(NEW.object_type, NEW.action, NEW.level);
    RETURN NEW;
END
$$;

-- changed: _role_privileges_guard()
CREATE OR REPLACE FUNCTION sharing._role_privileges_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    company bigint;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT r.company_id INTO company FROM sharing.roles r WHERE r.id = OLD.role_id;
        IF company IS NOT NULL AND sharing._company_exists(company) THEN
            PERFORM sharing._require_privilege('manage_roles', company);
            PERFORM sharing._require_role_changeable(OLD.role_id);
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    END IF;
    PERFORM sharing._check_privilege_name(NEW.privilege);
    SELECT r.company_id INTO company FROM sharing.roles r WHERE r.id = NEW.role_id;
    PERFORM sharing._require_existing('role', NEW.role_id, company);
    PERFORM sharing._require_privilege('manage_roles', company);
    PERFORM sharing._require_role_changeable(NEW.role_id);
    PERFORM sharing._require_grantable_privilege(NEW.privilege);
    RETURN NEW;
END
$$;

-- changed: _roles_before_delete()
CREATE OR REPLACE FUNCTION sharing._roles_before_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT sharing._company_exists(OLD.company_id) THEN
        RETURN OLD; -- the whole company is being deleted
    END IF;
    PERFORM sharing._require_privilege('manage_roles', OLD.company_id);
    PERFORM sharing._require_role_changeable(OLD.id);
    IF OLD.is_protected THEN
        RAISE EXCEPTION 'role "%" (%) is protected and cannot be deleted', OLD.name, OLD.id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'set is_protected = false first if it really must go';
    END IF;
    IF OLD.is_default THEN
        RAISE EXCEPTION 'role "%" (%) is the default role of company % and cannot be deleted',
                OLD.name, OLD.id, OLD.company_id
            USING ERRCODE = 'check_violation',
                  HINT = 'mark another role with is_default = true first';
    END IF;
    SELECT count(*) INTO n FROM sharing.user_roles m WHERE m.role_id = OLD.id;
    IF n > 0 THEN
        RAISE EXCEPTION 'role "%" (%) still has % member(s)', OLD.name, OLD.id, n
            USING ERRCODE = 'foreign_key_violation',
                  HINT = format('use sharing.delete_role(%s, reassign_to) to move its members to another role', OLD.id);
    END IF;
    SELECT count(*) INTO n FROM sharing.roles r WHERE r.reports_to = OLD.id;
    IF n > 0 THEN
        RAISE EXCEPTION 'role "%" (%) has % subordinate role(s) reporting to it', OLD.name, OLD.id, n
            USING ERRCODE = 'foreign_key_violation',
                  HINT = format('move them first: UPDATE sharing.roles SET reports_to = ... WHERE reports_to = %s', OLD.id);
    END IF;
    SELECT count(*) INTO n FROM sharing.roles r WHERE r.based_on = OLD.id;
    IF n > 0 THEN
        RAISE EXCEPTION 'role "%" (%) is the base of % other role(s)', OLD.name, OLD.id, n
            USING ERRCODE = 'foreign_key_violation',
                  HINT = format('rebase them first: UPDATE sharing.roles SET based_on = ... WHERE based_on = %s', OLD.id);
    END IF;
    RETURN OLD;
END
$$;

-- changed: _roles_check()
CREATE OR REPLACE FUNCTION sharing._roles_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    link_name text;
    link_id bigint;
    other_company bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.company_id <> OLD.company_id THEN
        RAISE EXCEPTION 'role "%" (%) cannot move from company % to company %',
                NEW.name, NEW.id, OLD.company_id, NEW.company_id
            USING ERRCODE = 'check_violation',
                  HINT = 'create a role in the other company instead, e.g. with sharing.copy_role()';
    END IF;
    -- Serialize changes to one company's role graph, so two concurrent edits
    -- cannot close a cycle between them.
    PERFORM 1 FROM sharing.companies c WHERE c.id = NEW.company_id FOR NO KEY UPDATE;

    FOREACH link_name IN ARRAY ARRAY['reports_to', 'based_on'] LOOP
        link_id := CASE link_name WHEN 'reports_to' THEN NEW.reports_to ELSE NEW.based_on END;
        CONTINUE WHEN link_id IS NULL;
        SELECT r.company_id INTO other_company FROM sharing.roles r WHERE r.id = link_id;
        IF other_company IS NULL OR NOT sharing._company_visible(other_company) THEN
            RAISE EXCEPTION 'role "%": % points to role %, which does not exist', NEW.name, link_name, link_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        IF other_company <> NEW.company_id THEN
            RAISE EXCEPTION 'role "%" of company % cannot have % = % (a role of company %)',
                    NEW.name, NEW.company_id, link_name, link_id, other_company
                USING ERRCODE = 'check_violation',
                      HINT = 'reports_to and based_on chains stay inside one company';
        END IF;
        IF TG_OP = 'UPDATE' AND EXISTS (
            WITH RECURSIVE chain (id, depth) AS (
                SELECT link_id, 1
                UNION ALL
                SELECT CASE link_name WHEN 'reports_to' THEN r.reports_to ELSE r.based_on END, c.depth + 1
                  FROM chain c JOIN sharing.roles r ON r.id = c.id
                 WHERE c.depth < 100000
            )
            SELECT 1 FROM chain WHERE chain.id = NEW.id
        ) THEN
            RAISE EXCEPTION 'role "%" (%) cannot have % = %: that would close a cycle',
                    NEW.name, NEW.id, link_name, link_id
                USING ERRCODE = 'check_violation',
                      HINT = format('role %s is already above role %s through %s', NEW.id, link_id, link_name);
        END IF;
    END LOOP;

    -- One default role per company: setting a new one unsets the old one;
    -- unsetting the only one directly is refused.
    IF NEW.is_default AND (TG_OP = 'INSERT' OR NOT OLD.is_default) THEN
        UPDATE sharing.roles r SET is_default = false
         WHERE r.company_id = NEW.company_id AND r.is_default AND r.id <> NEW.id;
    ELSIF TG_OP = 'UPDATE' AND OLD.is_default AND NOT NEW.is_default AND pg_trigger_depth() = 1 THEN
        RAISE EXCEPTION 'role "%" is the default role of company % and cannot stop being it', NEW.name, NEW.company_id
            USING ERRCODE = 'check_violation',
                  HINT = 'mark another role with is_default = true; this one is then unset';
    END IF;

    -- No escalation.
    PERFORM sharing._require_privilege('manage_roles', NEW.company_id);
    IF TG_OP = 'UPDATE' THEN
        PERFORM sharing._require_role_changeable(OLD.id);
    END IF;
    -- The flags that make a role administrative, undeletable or the default of new
    -- users: an admin sets or clears them.
    IF (TG_OP = 'INSERT' AND (NEW.is_admin OR NEW.is_protected OR NEW.is_default))
       OR (TG_OP = 'UPDATE' AND (NEW.is_admin IS DISTINCT FROM OLD.is_admin
                                 OR NEW.is_protected IS DISTINCT FROM OLD.is_protected
                                 OR NEW.is_default IS DISTINCT FROM OLD.is_default)) THEN
        PERFORM sharing._require_privilege('admin', NEW.company_id);
    END IF;
    IF NEW.based_on IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.based_on IS DISTINCT FROM OLD.based_on) THEN
        PERFORM sharing._require_role_within(NEW.based_on);
    END IF;
    RETURN NEW;
END
$$;

-- changed: _sharing_rules_guard()
CREATE OR REPLACE FUNCTION sharing._sharing_rules_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND sharing._company_exists(OLD.company_id) THEN
        PERFORM sharing._require_privilege('manage_sharing', OLD.company_id);
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    PERFORM sharing._require_existing('role', NEW.source_role,
                                      (SELECT r.company_id FROM sharing.roles r WHERE r.id = NEW.source_role));
    PERFORM sharing._require_existing('role', NEW.target_role,
                                      (SELECT r.company_id FROM sharing.roles r WHERE r.id = NEW.target_role));
    SELECT r.id, r.name, r.company_id INTO bad
      FROM sharing.roles r
     WHERE r.id IN (NEW.source_role, NEW.target_role) AND r.company_id <> NEW.company_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'sharing rule of company % cannot use role "%" (%) of company %',
                NEW.company_id, bad.name, bad.id, bad.company_id
            USING ERRCODE = 'check_violation',
                  HINT = 'sharing rules work inside one company; use an agreement between companies';
    END IF;
    PERFORM sharing._require_privilege('manage_sharing', NEW.company_id);
    PERFORM sharing._require_level(NEW.object_type, 'view', 'all');
    IF NEW.access = 'read_write' THEN
        PERFORM sharing._require_level(NEW.object_type, 'edit', 'all');
    END IF;
    RETURN NEW;
END
$$;

-- new: _transfer_guard()
CREATE OR REPLACE FUNCTION sharing._transfer_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o jsonb := to_jsonb(OLD);
    n jsonb := to_jsonb(NEW);
BEGIN
    PERFORM sharing._check_transfer(TG_ARGV[0], (o ->> TG_ARGV[1])::bigint, (o ->> TG_ARGV[2])::bigint,
                                    (n ->> TG_ARGV[1])::bigint, (n ->> TG_ARGV[2])::bigint);
    RETURN NEW;
END
$$;

-- new: _unregister_protected(regclass)
CREATE OR REPLACE FUNCTION sharing._unregister_protected(tbl regclass) RETURNS bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._require_table_owner(tbl);
    DELETE FROM sharing.protected_tables p WHERE p.table_name = tbl;
    RETURN FOUND;
END
$$;

-- changed: _user_roles_check()
CREATE OR REPLACE FUNCTION sharing._user_roles_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    user_company bigint;
    role_company bigint;
    role_name text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT u.company_id INTO user_company FROM sharing.users u WHERE u.id = OLD.user_id;
        IF user_company IS NOT NULL THEN
            PERFORM sharing._require_privilege('manage_users', user_company);
            PERFORM sharing._require_user_within(OLD.user_id);
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    END IF;
    SELECT u.company_id INTO user_company FROM sharing.users u WHERE u.id = NEW.user_id FOR NO KEY UPDATE;
    SELECT r.company_id, r.name INTO role_company, role_name FROM sharing.roles r WHERE r.id = NEW.role_id;
    -- Checked now, not by the foreign keys at the end of the statement: a writable
    -- CTE could otherwise create the user after a membership no check could judge.
    PERFORM sharing._require_existing('user', NEW.user_id, user_company);
    PERFORM sharing._require_existing('role', NEW.role_id, role_company);
    IF user_company <> role_company THEN
        RAISE EXCEPTION 'user % of company % cannot get role "%" (%) of company %',
                NEW.user_id, user_company, role_name, NEW.role_id, role_company
            USING ERRCODE = 'check_violation',
                  HINT = 'assign a role of the user''s own company';
    END IF;
    PERFORM sharing._require_privilege('manage_users', user_company);
    PERFORM sharing._require_role_within(NEW.role_id);
    RETURN NEW;
END
$$;

-- changed: _users_guard()
CREATE OR REPLACE FUNCTION sharing._users_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF sharing._company_exists(OLD.company_id) THEN
            PERFORM sharing._require_privilege('manage_users', OLD.company_id);
            PERFORM sharing._require_user_within(OLD.id);
        END IF;
        RETURN OLD;
    END IF;
    PERFORM sharing._require_privilege('manage_users', NEW.company_id);
    IF TG_OP = 'UPDATE' THEN
        PERFORM sharing._require_privilege('manage_users', OLD.company_id);
        PERFORM sharing._require_user_within(OLD.id);
    END IF;
    -- Global flags: a DBA or an active superuser user sets or clears them.
    IF (TG_OP = 'INSERT' AND (NEW.is_superuser OR NEW.is_super_company_member))
       OR (TG_OP = 'UPDATE'
           AND (NEW.is_superuser IS DISTINCT FROM OLD.is_superuser
                OR NEW.is_super_company_member IS DISTINCT FROM OLD.is_super_company_member)) THEN
        PERFORM sharing._require_superuser();
    END IF;
    -- The login mapping decides who a PostgreSQL role acts as: a DBA session only.
    IF (TG_OP = 'INSERT' AND NEW.db_role IS NOT NULL)
       OR (TG_OP = 'UPDATE' AND NEW.db_role IS DISTINCT FROM OLD.db_role) THEN
        PERFORM sharing._require_dba(format('set users.db_role of user %s', NEW.id));
    END IF;
    RETURN NEW;
END
$$;

-- changed: current_viewer()
CREATE OR REPLACE FUNCTION "current_viewer"() RETURNS bigint /* Option < i64 > */
STRICT STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'current_viewer_wrapper';

-- changed: protect(regclass,text,name)
CREATE OR REPLACE FUNCTION sharing.protect(tbl regclass, object_type text,
                                owner_column name DEFAULT 'owner_id',
                                company_column name DEFAULT 'company_id',
                                assignee_column name DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind "char";
    col name;
    col_type regtype;
    others text;
BEGIN
    IF tbl IS NULL OR object_type IS NULL OR owner_column IS NULL OR company_column IS NULL THEN
        RAISE EXCEPTION 'sharing.protect needs a table, an object type, an owner column and a company column'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = tbl;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not a table', tbl
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'protect the tables a view reads from, and give the view security_invoker = true';
    END IF;
    FOREACH col IN ARRAY ARRAY[owner_column, company_column]
                        || CASE WHEN assignee_column IS NULL THEN ARRAY[]::name[] ELSE ARRAY[assignee_column] END LOOP
        SELECT a.atttypid::regtype INTO col_type
          FROM pg_attribute a
         WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of table % does not exist', col, tbl
                USING ERRCODE = 'undefined_column',
                      HINT = 'name the owner, company and assignee columns: sharing.protect(tbl, object_type, owner_column, company_column, assignee_column)';
        END IF;
        IF col_type NOT IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype) THEN
            RAISE EXCEPTION 'column "%" of table % has type %, not an integer id', col, tbl, col_type
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    END LOOP;
    SELECT string_agg(quote_ident(p.polname), ', ') INTO others
      FROM pg_policy p
     WHERE p.polrelid = tbl AND p.polpermissive
       AND p.polname NOT IN ('sharing_select', 'sharing_insert', 'sharing_update', 'sharing_delete');
    IF others IS NOT NULL THEN
        RAISE EXCEPTION 'table % already has permissive policies (%) that would widen what pg_sharing allows', tbl, others
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'drop them, or recreate them AS RESTRICTIVE to narrow access further';
    END IF;

    -- A new object type is a global setting: creating one needs a DBA session.
    IF NOT EXISTS (SELECT 1 FROM sharing.object_types t WHERE t.name = protect.object_type) THEN
        INSERT INTO sharing.object_types (name) VALUES (object_type);
    END IF;
    PERFORM sharing._register_protected(tbl, object_type, owner_column, company_column, assignee_column);

    -- The table and every partition below it: a query naming a partition directly
    -- must obey the same policies.
    PERFORM sharing._apply_policies(p.relid, object_type, owner_column, company_column, assignee_column)
       FROM sharing._relation_tree(tbl) p;
END
$$;

-- changed: unprotect(regclass)
CREATE OR REPLACE FUNCTION sharing.unprotect(tbl regclass) RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT sharing._unregister_protected(tbl) THEN
        RAISE EXCEPTION 'table % is not protected by pg_sharing', tbl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'sharing.protected_tables lists the protected tables';
    END IF;
    PERFORM sharing._drop_policies(p.relid) FROM sharing._relation_tree(tbl) p;
    PERFORM sharing._disable_rls(p.relid) FROM sharing._relation_tree(tbl) p;
END
$$;

-- new: what_if(TEXT)
CREATE OR REPLACE FUNCTION "what_if"(
	"statements" TEXT /* & str */
) RETURNS TABLE (
	"user_id" bigint,  /* i64 */
	"object_type" TEXT,  /* String */
	"action" TEXT,  /* String */
	"gained" bigint,  /* i64 */
	"lost" bigint  /* i64 */
)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'what_if_wrapper';


-- trusted_app_roles: a DBA session only.
DROP TRIGGER trusted_app_roles_guard ON sharing.trusted_app_roles;
CREATE TRIGGER trusted_app_roles_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.trusted_app_roles
    FOR EACH ROW EXECUTE FUNCTION sharing._dba_guard();

-- The agreement views: security barriers.
CREATE OR REPLACE VIEW sharing._agreements_with_permissions WITH (security_barrier = true) AS
SELECT a.id AS agreement_id, a.grantor_company, g.name AS grantor_name,
       a.grantee_company, e.name AS grantee_name, a.notes, a.created_at,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('object_type', p.object_type, 'action', p.action)
                                  ORDER BY p.object_type, p.action)
                   FROM sharing.agreement_permissions p WHERE p.agreement_id = a.id), '[]'::jsonb) AS permissions
  FROM sharing.agreements a
  JOIN sharing.companies g ON g.id = a.grantor_company
  JOIN sharing.companies e ON e.id = a.grantee_company
 WHERE (SELECT sharing._config_all())
    OR (SELECT sharing._config_company()) IN (a.grantor_company, a.grantee_company);

ALTER VIEW sharing.shared_by_you SET (security_barrier = true);
ALTER VIEW sharing.shared_with_you SET (security_barrier = true);

-- Internal tables, tenant isolation and the effect check (as sql/tenancy.sql).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['_generation', 'protected_tables', '_standard_roles', 'audit_log'] LOOP
        EXECUTE format('CREATE TRIGGER a_internal_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
                          ON sharing.%I FOR EACH STATEMENT EXECUTE FUNCTION sharing._internal_guard()', t);
        -- Also under session_replication_role = replica.
        EXECUTE format('ALTER TABLE sharing.%I ENABLE ALWAYS TRIGGER a_internal_guard', t);
    END LOOP;
END
$$;

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

-- The two views for comparing roles and listing members read as their caller, so
-- the policies above apply to them.
ALTER VIEW sharing.role_permission_matrix SET (security_invoker = true);
ALTER VIEW sharing.role_members SET (security_invoker = true);

-- No escalation by effect (src/backend/effect.rs): every statement that changes a
-- configuration table is judged once its rows are all written, by comparing what
-- every user may do before and after it. SECURITY DEFINER so that the caller needs
-- no privilege on the two functions; they judge the role really asking.


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

-- Every protected table gets the transfer trigger.
SELECT sharing._apply_policies(t.relid, pt.object_type, pt.owner_column, pt.company_column, pt.assignee_column)
  FROM sharing.protected_tables pt
 CROSS JOIN LATERAL sharing._relation_tree(pt.table_name) t;

-- Privileges, as sql/finalize.sql.
-- pg_sharing: privileges, once every object exists.
-- Nothing for PUBLIC by default; the viewer resolution is public because every
-- protected query needs it. DBAs grant the rest to application roles.
REVOKE ALL ON ALL TABLES IN SCHEMA sharing FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA sharing FROM PUBLIC;
-- Policies call these as the querying role:
GRANT EXECUTE ON FUNCTION sharing.current_viewer() TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing.can_access(text, text, bigint, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing.can_see(bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._all_rows_company(text, text, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._policy(text, text, bigint, bigint, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._can_access_for(text, text, bigint, bigint, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._decide_current(text, text, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._all_rows_company_current(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._index_owners_current(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._index_owners(text, text, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._filter_holds(text, text, bigint[], bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._owner_hint(text, text, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing.reach(bigint) TO PUBLIC;
-- The row level security of the configuration tables and the transfer trigger of
-- protected tables call these as the querying role.
GRANT EXECUTE ON FUNCTION sharing._config_all() TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._config_company() TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._check_transfer(text, bigint, bigint, bigint, bigint) TO PUBLIC;
-- Each viewer may read their own effective permissions.
GRANT EXECUTE ON FUNCTION sharing.my_permissions() TO PUBLIC;
-- The agreement views show only the viewer's own company's agreements.
GRANT EXECUTE ON FUNCTION sharing._viewer_company() TO PUBLIC;
GRANT SELECT ON sharing.shared_by_you, sharing.shared_with_you TO PUBLIC;
-- The audit log shows each viewer their own company's entries (row level security).
GRANT SELECT ON sharing.audit_log TO PUBLIC;
-- DBAs of pg_sharing (docs/security.md): everything a superuser uses day to day.
-- The internal tables stay guarded (sql/tenancy.sql), whatever is granted.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sharing TO sharing_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sharing TO sharing_admin;

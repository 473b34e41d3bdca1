-- pg_sharing 0.3.0 -> 0.4.0: authority and hardening (docs/security.md), record shares
-- (docs/concepts.md, "Record shares").
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

-- Functions whose signature changed (protect() gained id_column).
DROP FUNCTION sharing._apply_policies(regclass,text,name,name,name);
DROP FUNCTION sharing._check_expr(text,text,name,name,name);
DROP FUNCTION sharing._policy_expr(text,text,name,name,name);
DROP FUNCTION sharing.protect(regclass,text,name,name,name);

-- Record shares name a record by the protected table's id column.
ALTER TABLE sharing.protected_tables ADD COLUMN id_column name;

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

-- new: _apply_policies(regclass,text,name,name,name,name)
CREATE OR REPLACE FUNCTION sharing._apply_policies(tbl regclass, object_type text, owner_column name,
                                        company_column name, assignee_column name, id_column name) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._drop_policies(tbl);
    EXECUTE format('CREATE POLICY sharing_select ON %s AS PERMISSIVE FOR SELECT TO PUBLIC USING (%s)', tbl,
                   sharing._policy_expr(tbl, object_type, 'view', owner_column, company_column, assignee_column, id_column));
    EXECUTE format('CREATE POLICY sharing_insert ON %s AS PERMISSIVE FOR INSERT TO PUBLIC WITH CHECK (%s)', tbl,
                   sharing._check_expr(tbl, object_type, 'create', owner_column, company_column, NULL, NULL));
    EXECUTE format('CREATE POLICY sharing_update ON %s AS PERMISSIVE FOR UPDATE TO PUBLIC USING (%s) WITH CHECK (%s)', tbl,
                   sharing._policy_expr(tbl, object_type, 'edit', owner_column, company_column, assignee_column, id_column),
                   sharing._check_expr(tbl, object_type, 'edit', owner_column, company_column, assignee_column, id_column));
    EXECUTE format('CREATE POLICY sharing_delete ON %s AS PERMISSIVE FOR DELETE TO PUBLIC USING (%s)', tbl,
                   sharing._policy_expr(tbl, object_type, 'delete', owner_column, company_column, assignee_column, id_column));
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

-- new: _can_access_record(oid,TEXT,TEXT,bigint)
CREATE OR REPLACE FUNCTION "_can_access_record"(
	"tbl" oid, /* pg_sys :: Oid */
	"record_id" TEXT, /* & str */
	"action" TEXT, /* & str */
	"viewer" bigint /* Option < i64 > */
) RETURNS bool /* bool */
STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_can_access_record_wrapper';

-- new: _check_expr(regclass,text,text,name,name,name,name)
CREATE OR REPLACE FUNCTION sharing._check_expr(tbl regclass, object_type text, action text, owner_column name,
                                    company_column name, assignee_column name, id_column name) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('sharing._decide_current(%L::text, %L::text, %I, %I, %s)',
                  object_type, action, owner_column, company_column,
                  sharing._scalar_assignee(tbl, assignee_column))
        || sharing._extra_arms(tbl, object_type, action, owner_column, company_column, assignee_column, id_column)
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

-- new: _column_type(regclass,name)
CREATE OR REPLACE FUNCTION sharing._column_type(tbl regclass, col name) RETURNS regtype
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.atttypid::regtype FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
$$;

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

-- new: _current_company()
CREATE OR REPLACE FUNCTION "_current_company"() RETURNS bigint /* Option < i64 > */
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_current_company_wrapper';

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

-- new: _decide_current_participants(TEXT,TEXT,bigint,bigint,bigint[])
CREATE OR REPLACE FUNCTION "_decide_current_participants"(
	"object_type" TEXT, /* Option < & str > */
	"action" TEXT, /* Option < & str > */
	"owner" bigint, /* Option < i64 > */
	"company" bigint, /* Option < i64 > */
	"participants" bigint[] /* :: std :: option :: Option < Vec < Option < i64 > > > */
) RETURNS bool /* bool */
STABLE PARALLEL SAFE COST 10
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_decide_current_participants_wrapper';

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

-- new: _explain_record(oid,TEXT,TEXT,bigint)
CREATE OR REPLACE FUNCTION "_explain_record"(
	"tbl" oid, /* pg_sys :: Oid */
	"record_id" TEXT, /* & str */
	"action" TEXT, /* & str */
	"viewer" bigint /* Option < i64 > */
) RETURNS jsonb /* JsonB */
STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_explain_record_wrapper';

-- new: _extra_arms(regclass,text,text,name,name,name,name)
CREATE OR REPLACE FUNCTION sharing._extra_arms(tbl regclass, object_type text, action text, owner_column name,
                                    company_column name, assignee_column name, id_column name) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN assignee_column IS NOT NULL AND action <> 'create'
                     AND sharing._column_type(tbl, assignee_column) = 'bigint[]'::regtype
                THEN format(' OR sharing._decide_current_participants(%L::text, %L::text, %I, %I, %I)',
                            object_type, action, owner_column, company_column, assignee_column)
                ELSE '' END
        || CASE WHEN id_column IS NOT NULL AND action IN ('view', 'edit')
                THEN format(' OR (%I = (SELECT sharing._current_company()) AND %I = ANY ((SELECT sharing.%I(%L::text, %L::text))::%s[]))',
                            company_column, id_column,
                            CASE sharing._column_type(tbl, id_column)
                                WHEN 'integer'::regtype THEN '_shared_ids_int4'
                                WHEN 'uuid'::regtype THEN '_shared_ids_uuid'
                                ELSE '_shared_ids_int8' END,
                            object_type, action,
                            CASE sharing._column_type(tbl, id_column)
                                WHEN 'integer'::regtype THEN 'integer'
                                WHEN 'uuid'::regtype THEN 'uuid'
                                ELSE 'bigint' END)
                ELSE '' END
$$;

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

-- new: _policy_expr(regclass,text,text,name,name,name,name)
CREATE OR REPLACE FUNCTION sharing._policy_expr(tbl regclass, object_type text, action text, owner_column name,
                                     company_column name, assignee_column name, id_column name) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('sharing._policy(%L::text, %L::text, %I, %I, (SELECT sharing.current_viewer()), %s,'
                  ' (SELECT sharing._all_rows_company(%L::text, %L::text, (SELECT sharing.current_viewer()))))',
                  object_type, action, owner_column, company_column,
                  sharing._scalar_assignee(tbl, assignee_column), object_type, action)
        || sharing._extra_arms(tbl, object_type, action, owner_column, company_column, assignee_column, id_column)
$$;

-- changed: _protect_new_partitions()
CREATE OR REPLACE FUNCTION sharing._protect_new_partitions() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    FOR p IN
        SELECT t.relid, pt.object_type, pt.owner_column, pt.company_column, pt.assignee_column, pt.id_column
          FROM sharing.protected_tables pt
          CROSS JOIN LATERAL pg_partition_tree(pt.table_name) t
         WHERE t.relid <> pt.table_name
           AND NOT EXISTS (SELECT 1 FROM pg_policy x WHERE x.polrelid = t.relid AND x.polname = 'sharing_select')
    LOOP
        PERFORM sharing._apply_policies(p.relid, p.object_type, p.owner_column, p.company_column,
                                        p.assignee_column, p.id_column);
    END LOOP;
END
$$;

-- new: _record_facts(regclass,text,object_type text,record_key text,owner bigint,company bigint,assignees bigint[],present bool)
CREATE OR REPLACE FUNCTION sharing._record_facts(tbl regclass, record_id text,
                                      OUT object_type text, OUT record_key text, OUT owner bigint,
                                      OUT company bigint, OUT assignees bigint[], OUT present bool)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p sharing.protected_tables;
    id_type regtype;
    assignee_type regtype;
    assignee_expr text;
    n bigint;
BEGIN
    SELECT * INTO p FROM sharing.protected_tables pt WHERE pt.table_name = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % is not protected by pg_sharing', tbl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'sharing.protected_tables lists the protected tables';
    END IF;
    IF p.id_column IS NULL THEN
        RAISE EXCEPTION 'table % has no id column for record shares', tbl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'protect it again naming its id column: sharing.protect(tbl, object_type, ..., id_column => ''id'')';
    END IF;
    object_type := p.object_type;
    SELECT a.atttypid::regtype INTO id_type
      FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = p.id_column AND NOT a.attisdropped;
    BEGIN
        EXECUTE format('SELECT ($1::%s)::text', id_type) INTO record_key USING record_id;
    EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
        RAISE EXCEPTION 'record id "%" is not a valid % for %.%', record_id, id_type, tbl, quote_ident(p.id_column)
            USING ERRCODE = 'invalid_text_representation',
                  HINT = 'name the record by the value of its id column';
    END;
    IF p.assignee_column IS NULL THEN
        assignee_expr := 'NULL::bigint[]';
    ELSE
        SELECT a.atttypid::regtype INTO assignee_type
          FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = p.assignee_column AND NOT a.attisdropped;
        assignee_expr := CASE WHEN assignee_type = 'bigint[]'::regtype
                              THEN format('%I', p.assignee_column)
                              ELSE format('array_remove(ARRAY[%I::bigint], NULL)', p.assignee_column) END;
    END IF;
    EXECUTE format('SELECT %I::bigint, %I::bigint, %s FROM %s WHERE %I = $1::%s LIMIT 1',
                   p.owner_column, p.company_column, assignee_expr, tbl, p.id_column, id_type)
       INTO owner, company, assignees USING record_key;
    GET DIAGNOSTICS n = ROW_COUNT;
    present := n > 0;
END
$$;

-- new: _record_shares_guard()
CREATE OR REPLACE FUNCTION sharing._record_shares_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target record;
    grantee_company bigint;
    viewer bigint;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        -- A cascade from a deleted company, user or role removes the share.
        IF sharing._company_exists(OLD.company_id)
           AND (OLD.user_id IS NULL OR EXISTS (SELECT 1 FROM sharing.users u WHERE u.id = OLD.user_id))
           AND (OLD.role_id IS NULL OR EXISTS (SELECT 1 FROM sharing.roles r WHERE r.id = OLD.role_id)) THEN
            IF NOT sharing._company_visible(OLD.company_id) THEN
                RAISE EXCEPTION 'record share % does not exist', OLD.id
                    USING ERRCODE = 'no_data_found';
            END IF;
            PERFORM sharing._require_unshare(OLD.id, OLD.object_type, OLD.record_id, OLD.company_id,
                                             OLD.user_id, OLD.role_id, OLD.granted_by);
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    END IF;

    IF NEW.role_id IS NOT NULL AND NEW.scope IS NULL THEN
        NEW.scope := 'role';
    END IF;
    SELECT * INTO target FROM sharing._share_target(NEW.object_type, NEW.record_id);
    -- Who may share, first: a record the acting viewer cannot see is reported as
    -- missing before anything about it (its company) is compared.
    PERFORM sharing._require_share(NEW.object_type, coalesce(target.record_key, NEW.record_id),
                                   coalesce(target.present, false),
                                   target.owner, target.company, target.assignees, NEW.access);
    IF NOT target.has_table THEN
        IF NOT (sharing._config_all() AND sharing.current_viewer() IS NULL) THEN
            RAISE EXCEPTION 'object type "%" has no protected table with an id column', NEW.object_type
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'record shares need sharing.protect(tbl, object_type, ..., id_column => ...)';
        END IF;
    ELSE
        NEW.record_id := target.record_key;
    END IF;
    IF target.present THEN
        IF NEW.company_id IS NULL THEN
            NEW.company_id := target.company;
        ELSIF NEW.company_id IS DISTINCT FROM target.company THEN
            RAISE EXCEPTION 'record % of "%" belongs to company %, not %', NEW.record_id, NEW.object_type,
                    target.company, NEW.company_id
                USING ERRCODE = 'check_violation',
                      HINT = 'leave company_id out: it is taken from the record';
        END IF;
    END IF;
    -- The grantee belongs to the record's company (visible to the acting party).
    IF NEW.user_id IS NOT NULL THEN
        SELECT u.company_id INTO grantee_company FROM sharing.users u WHERE u.id = NEW.user_id;
        PERFORM sharing._require_existing('user', NEW.user_id, grantee_company);
    ELSIF NEW.role_id IS NOT NULL THEN
        SELECT r.company_id INTO grantee_company FROM sharing.roles r WHERE r.id = NEW.role_id;
        PERFORM sharing._require_existing('role', NEW.role_id, grantee_company);
    END IF;
    IF NEW.company_id IS NOT NULL AND grantee_company IS DISTINCT FROM NEW.company_id THEN
        RAISE EXCEPTION 'record % of "%" (company %) cannot be shared with % % of company %',
                NEW.record_id, NEW.object_type, NEW.company_id,
                CASE WHEN NEW.user_id IS NOT NULL THEN 'user' ELSE 'role' END,
                coalesce(NEW.user_id, NEW.role_id), grantee_company
            USING ERRCODE = 'check_violation',
                  HINT = 'records are shared inside their company; an agreement shares between companies';
    END IF;
    viewer := sharing.current_viewer();
    IF viewer IS NOT NULL THEN
        NEW.granted_by := viewer;
    END IF;
    RETURN NEW;
END
$$;

-- new: _register_protected(regclass,text,name,name,name,name)
CREATE OR REPLACE FUNCTION sharing._register_protected(tbl regclass, object_type text, owner_column name,
                                            company_column name, assignee_column name, id_column name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._require_table_owner(tbl);
    INSERT INTO sharing.protected_tables (table_name, object_type, owner_column, company_column, assignee_column, id_column)
    VALUES (tbl, object_type, owner_column, company_column, assignee_column, id_column)
    ON CONFLICT (table_name) DO UPDATE
       SET object_type = EXCLUDED.object_type, owner_column = EXCLUDED.owner_column,
           company_column = EXCLUDED.company_column, assignee_column = EXCLUDED.assignee_column,
           id_column = EXCLUDED.id_column, protected_at = now();
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

-- new: _require_share(TEXT,TEXT,bool,bigint,bigint,bigint[],TEXT)
CREATE OR REPLACE FUNCTION "_require_share"(
	"object_type" TEXT, /* & str */
	"record_id" TEXT, /* & str */
	"found" bool, /* bool */
	"owner" bigint, /* Option < i64 > */
	"company" bigint, /* Option < i64 > */
	"assignees" bigint[], /* :: std :: option :: Option < Vec < Option < i64 > > > */
	"access" TEXT /* & str */
) RETURNS void
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_require_share_wrapper';

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

-- new: _require_unshare(bigint,TEXT,TEXT,bigint,bigint,bigint,bigint)
CREATE OR REPLACE FUNCTION "_require_unshare"(
	"share_id" bigint, /* i64 */
	"object_type" TEXT, /* & str */
	"record_id" TEXT, /* & str */
	"company" bigint, /* i64 */
	"user_id" bigint, /* Option < i64 > */
	"role_id" bigint, /* Option < i64 > */
	"granted_by" bigint /* Option < i64 > */
) RETURNS void
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_require_unshare_wrapper';

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

-- changed: _row_company(text,jsonb)
CREATE OR REPLACE FUNCTION sharing._row_company(table_name text, r jsonb) RETURNS bigint
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

-- new: _scalar_assignee(regclass,name)
CREATE OR REPLACE FUNCTION sharing._scalar_assignee(tbl regclass, assignee_column name) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN assignee_column IS NULL
                  OR sharing._column_type(tbl, assignee_column) = 'bigint[]'::regtype THEN 'NULL::bigint'
                ELSE quote_ident(assignee_column) END
$$;

-- new: _share_target(text,text,record_key text,owner bigint,company bigint,assignees bigint[],present bool,has_table bool)
CREATE OR REPLACE FUNCTION sharing._share_target(object_type text, record_id text,
                                      OUT record_key text, OUT owner bigint, OUT company bigint,
                                      OUT assignees bigint[], OUT present bool, OUT has_table bool)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t regclass;
    f record;
BEGIN
    present := false;
    has_table := false;
    FOR t IN SELECT p.table_name FROM sharing.protected_tables p
              WHERE p.object_type = _share_target.object_type AND p.id_column IS NOT NULL
              ORDER BY p.table_name::oid LOOP
        has_table := true;
        SELECT * INTO f FROM sharing._record_facts(t, record_id);
        record_key := coalesce(record_key, f.record_key);
        IF f.present THEN
            record_key := f.record_key;
            owner := f.owner;
            company := f.company;
            assignees := f.assignees;
            present := true;
            RETURN;
        END IF;
    END LOOP;
END
$$;

-- new: _shared_ids_int4(TEXT,TEXT)
CREATE OR REPLACE FUNCTION "_shared_ids_int4"(
	"object_type" TEXT, /* Option < & str > */
	"action" TEXT /* Option < & str > */
) RETURNS INT[] /* Vec < i32 > */
STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_shared_ids_int4_wrapper';

-- new: _shared_ids_int8(TEXT,TEXT)
CREATE OR REPLACE FUNCTION "_shared_ids_int8"(
	"object_type" TEXT, /* Option < & str > */
	"action" TEXT /* Option < & str > */
) RETURNS bigint[] /* Vec < i64 > */
STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_shared_ids_int8_wrapper';

-- new: _shared_ids_uuid(TEXT,TEXT)
CREATE OR REPLACE FUNCTION "_shared_ids_uuid"(
	"object_type" TEXT, /* Option < & str > */
	"action" TEXT /* Option < & str > */
) RETURNS uuid[] /* Vec < Uuid > */
STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_shared_ids_uuid_wrapper';

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

-- new: _who_can_access(oid,TEXT,TEXT)
CREATE OR REPLACE FUNCTION "_who_can_access"(
	"tbl" oid, /* pg_sys :: Oid */
	"record_id" TEXT, /* & str */
	"action" TEXT /* & str */
) RETURNS TABLE (
	"user_id" bigint,  /* i64 */
	"reason" TEXT,  /* String */
	"detail" jsonb  /* JsonB */
)
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_who_can_access_wrapper';

-- new: can_access(regclass,anycompatible,text,bigint)
CREATE OR REPLACE FUNCTION sharing.can_access(tbl regclass, record_id anycompatible, action text, viewer bigint)
RETURNS bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT sharing._can_access_record(tbl, record_id::text, action, viewer) $$;

-- changed: current_viewer()
CREATE OR REPLACE FUNCTION "current_viewer"() RETURNS bigint /* Option < i64 > */
STRICT STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'current_viewer_wrapper';

-- new: explain_access(regclass,anycompatible,text,bigint)
CREATE OR REPLACE FUNCTION sharing.explain_access(tbl regclass, record_id anycompatible, action text,
                                       viewer bigint DEFAULT sharing.current_viewer())
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT sharing._explain_record(tbl, record_id::text, action, viewer) $$;

-- new: protect(regclass,text,name,name,name,name)
CREATE OR REPLACE FUNCTION sharing.protect(tbl regclass, object_type text,
                                owner_column name DEFAULT 'owner_id',
                                company_column name DEFAULT 'company_id',
                                assignee_column name DEFAULT NULL,
                                id_column name DEFAULT 'id') RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind "char";
    col name;
    col_type regtype;
    others text;
    ids name := id_column;
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
        col_type := sharing._column_type(tbl, col);
        IF col_type IS NULL THEN
            RAISE EXCEPTION 'column "%" of table % does not exist', col, tbl
                USING ERRCODE = 'undefined_column',
                      HINT = 'name the owner, company and assignee columns: sharing.protect(tbl, object_type, owner_column, company_column, assignee_column)';
        END IF;
        IF col = assignee_column AND col_type = 'bigint[]'::regtype THEN
            CONTINUE;  -- participants: every listed user counts as an assignee
        END IF;
        IF col_type NOT IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype) THEN
            RAISE EXCEPTION 'column "%" of table % has type %, not an integer id', col, tbl, col_type
                USING ERRCODE = 'datatype_mismatch',
                      HINT = CASE WHEN col = assignee_column THEN 'an assignee column holds one user id (an integer) or participants (bigint[])'
                                  ELSE 'owner and company columns hold ids (bigint, integer or smallint)' END;
        END IF;
    END LOOP;
    IF ids IS NOT NULL THEN
        col_type := sharing._column_type(tbl, ids);
        IF col_type IS NULL AND ids = 'id' THEN
            RAISE NOTICE 'table % has no column "id": it is protected without record shares', tbl
                USING HINT = 'name the column that identifies a record: sharing.protect(..., id_column => ''…'')';
            ids := NULL;
        ELSIF col_type IS NULL THEN
            RAISE EXCEPTION 'column "%" of table % does not exist', ids, tbl
                USING ERRCODE = 'undefined_column',
                      HINT = 'id_column names the column that identifies a record (bigint, integer or uuid), or NULL for no record shares';
        ELSIF col_type NOT IN ('bigint'::regtype, 'integer'::regtype, 'uuid'::regtype) THEN
            RAISE EXCEPTION 'column "%" of table % has type %: record ids are bigint, integer or uuid', ids, tbl, col_type
                USING ERRCODE = 'datatype_mismatch',
                      HINT = 'name another id column, or id_column => NULL to protect the table without record shares';
        END IF;
    END IF;
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
    PERFORM sharing._register_protected(tbl, object_type, owner_column, company_column, assignee_column, ids);

    -- The table and every partition below it: a query naming a partition directly
    -- must obey the same policies.
    PERFORM sharing._apply_policies(p.relid, object_type, owner_column, company_column, assignee_column, ids)
       FROM sharing._relation_tree(tbl) p;
END
$$;

-- new: purge_expired_shares()
CREATE OR REPLACE FUNCTION sharing.purge_expired_shares() RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    -- DBA sessions, and viewers with manage_sharing (their own company's shares).
    PERFORM sharing._require_privilege('manage_sharing', NULL);
    DELETE FROM sharing.record_shares s WHERE s.valid_until <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- new: share_record(regclass,anycompatible,bigint,text,timestamptz)
CREATE OR REPLACE FUNCTION sharing.share_record(tbl regclass, record_id anycompatible, grantee_user bigint,
                                     access text DEFAULT 'read', valid_until timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    new_id bigint;
BEGIN
    IF tbl IS NULL OR record_id IS NULL OR grantee_user IS NULL OR access IS NULL THEN
        RAISE EXCEPTION 'sharing.share_record needs a table, a record id, a user and an access'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT p.object_type INTO f FROM sharing.protected_tables p WHERE p.table_name = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % is not protected by pg_sharing', tbl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'sharing.protected_tables lists the protected tables';
    END IF;
    INSERT INTO sharing.record_shares (object_type, record_id, user_id, access, valid_until)
    VALUES (f.object_type, record_id::text, grantee_user, access, valid_until)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;

-- new: share_record_with_role(regclass,anycompatible,bigint,text,text,timestamptz)
CREATE OR REPLACE FUNCTION sharing.share_record_with_role(tbl regclass, record_id anycompatible, role bigint,
                                               scope text DEFAULT 'role', access text DEFAULT 'read',
                                               valid_until timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    new_id bigint;
BEGIN
    IF tbl IS NULL OR record_id IS NULL OR role IS NULL OR scope IS NULL OR access IS NULL THEN
        RAISE EXCEPTION 'sharing.share_record_with_role needs a table, a record id, a role, a scope and an access'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT p.object_type INTO f FROM sharing.protected_tables p WHERE p.table_name = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % is not protected by pg_sharing', tbl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'sharing.protected_tables lists the protected tables';
    END IF;
    INSERT INTO sharing.record_shares (object_type, record_id, role_id, scope, access, valid_until)
    VALUES (f.object_type, record_id::text, role, scope, access, valid_until)
    RETURNING id INTO new_id;
    RETURN new_id;
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

-- new: unshare_record(bigint)
CREATE OR REPLACE FUNCTION sharing.unshare_record(share_id bigint) RETURNS bool
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM sharing.record_shares s WHERE s.id = share_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'record share % does not exist', share_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'sharing.record_shares lists the shares of your company';
    END IF;
    RETURN true;
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

-- new: who_can_access(regclass,anycompatible,text)
CREATE OR REPLACE FUNCTION sharing.who_can_access(tbl regclass, record_id anycompatible, action text DEFAULT 'view')
RETURNS TABLE (user_id bigint, reason text, detail jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM sharing._who_can_access(tbl, record_id::text, action) $$;

-- dropped: _apply_policies(regclass,text,name,name,name)
-- dropped: _check_expr(text,text,name,name,name)
-- dropped: _policy_expr(text,text,name,name,name)
-- dropped: protect(regclass,text,name,name,name)

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

-- Record shares (as sql/shares.sql).
CREATE TABLE sharing.record_shares (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    object_type text NOT NULL REFERENCES sharing.object_types (name) ON UPDATE CASCADE ON DELETE CASCADE,
    -- the protected row's id column, as text (canonical: the id type's output form)
    record_id   text NOT NULL CHECK (record_id <> ''),
    -- the record's company: set from the record when omitted
    company_id  bigint NOT NULL REFERENCES sharing.companies (id) ON DELETE CASCADE,
    user_id     bigint REFERENCES sharing.users (id) ON DELETE CASCADE,
    role_id     bigint REFERENCES sharing.roles (id) ON DELETE CASCADE,
    -- with role_id: role (its members) or role_and_subordinates; 'role' when omitted
    scope       text CHECK (scope IN ('role', 'role_and_subordinates')),
    access      text NOT NULL DEFAULT 'read' CHECK (access IN ('read', 'read_write')),
    valid_from  timestamptz NOT NULL DEFAULT now(),
    valid_until timestamptz,
    -- the viewer who shared it (set by the trigger for acting viewers); kept as a
    -- number, so removing that user leaves the history intact
    granted_by  bigint,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT record_shares_one_grantee CHECK ((user_id IS NULL) <> (role_id IS NULL)),
    CONSTRAINT record_shares_scope_with_role CHECK ((role_id IS NULL) = (scope IS NULL)),
    CONSTRAINT record_shares_period CHECK (valid_until IS NULL OR valid_until > valid_from)
);
CREATE INDEX record_shares_record_idx ON sharing.record_shares (object_type, record_id);
CREATE INDEX record_shares_user_idx ON sharing.record_shares (object_type, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX record_shares_role_idx ON sharing.record_shares (object_type, role_id) WHERE role_id IS NOT NULL;
CREATE INDEX record_shares_company_idx ON sharing.record_shares (company_id);
CREATE INDEX record_shares_until_idx ON sharing.record_shares (valid_until) WHERE valid_until IS NOT NULL;
REVOKE ALL ON sharing.record_shares FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('sharing.record_shares', '');
SELECT pg_catalog.pg_extension_config_dump('sharing.record_shares_id_seq', '');

-- One row of a protected table as the decisions need it: its object type, the id in
-- canonical text form, owner, company and assignees (a scalar assignee as a
-- one-element array; participants as they are). Runs as its caller: the backend
-- calls it as the extension's owner after checking the asker may learn the answer,
-- and the record_shares trigger (SECURITY DEFINER) to judge a share.

-- The record a share names, on whichever protected table of its object type holds
-- it (NULL columns and found = false when none does).

-- Who may share and unshare (docs/security.md, "Record shares"): a DBA session; a
-- viewer who can edit the record (or holds manage_sharing in its company), never
-- with more access than their own on it. The grantee is a user or role of the
-- record's company; granted_by is the acting viewer.

CREATE TRIGGER record_shares_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.record_shares
    FOR EACH ROW EXECUTE FUNCTION sharing._record_shares_guard();
CREATE TRIGGER z_audit AFTER INSERT OR UPDATE OR DELETE ON sharing.record_shares
    FOR EACH ROW EXECUTE FUNCTION sharing._audit();

-- Tenant isolation, as for the other configuration tables.
ALTER TABLE sharing.record_shares ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sharing.record_shares
    USING ((SELECT sharing._config_all()) OR company_id = (SELECT sharing._config_company()));

-- Helpers (SECURITY INVOKER: the caller needs the same privileges as for the
-- INSERT or DELETE, and the trigger above judges it the same way).



-- Shares whose end has passed count for nothing already; this removes them (the
-- visible ones: a viewer's own company's, each judged by the trigger).

-- "Who can see this record?" and the record forms of can_access and
-- explain_access: the record is named by its table and id (any type the id column
-- takes; `anycompatible` reads an untyped literal as text).



-- Protected tables whose `id` column can name records get record shares; every
-- protected table gets the transfer trigger and the new policies.
-- (A migration, not a change of anyone's: not in the audit log.)
SET session_replication_role = replica;
UPDATE sharing.protected_tables pt SET id_column = 'id'
 WHERE sharing._column_type(pt.table_name, 'id') IN ('bigint'::regtype, 'integer'::regtype, 'uuid'::regtype);
RESET session_replication_role;
SELECT sharing._apply_policies(t.relid, pt.object_type, pt.owner_column, pt.company_column, pt.assignee_column, pt.id_column)
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
-- The participants and record share arms of the policies (sql/protect.sql).
GRANT EXECUTE ON FUNCTION sharing._decide_current_participants(text, text, bigint, bigint, bigint[]) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._current_company() TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._shared_ids_int8(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._shared_ids_int4(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._shared_ids_uuid(text, text) TO PUBLIC;
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

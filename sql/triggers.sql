-- pg_sharing: the invariants (docs/sql-reference.md, "Invariants (triggers) and
-- their errors"), kept by triggers so that every path
-- (plain DML, the helper functions, an import) obeys them. A violation raises an
-- ERROR, which aborts the whole statement: nothing is half-written.
--
-- Escalation checks (docs/security.md, "The trust model") call the sharing._require_*
-- functions (src/sql_api/guards.rs): a DBA session (a superuser or a member of
-- sharing_admin, without a viewer) passes them, a viewer is checked, and a session
-- with neither is refused.
--
-- Trigger functions are SECURITY DEFINER (they keep bookkeeping rows the caller may
-- not be allowed to write) with a pinned search_path; the viewer they check is the
-- role really asking, never the definer.

-- Numeric rank of a level, for coherence checks.
CREATE FUNCTION sharing._level_rank(level text) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE level WHEN 'none' THEN 0 WHEN 'owned' THEN 1 WHEN 'all' THEN 2 END $$;

-- Does the company still exist? (false while a company is being deleted in cascade)
CREATE FUNCTION sharing._company_exists(company_id bigint) RETURNS bool
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT EXISTS (SELECT 1 FROM sharing.companies c WHERE c.id = company_id) $$;

-- May the acting party see the configuration of `company` (docs/security.md)?
CREATE FUNCTION sharing._company_visible(company bigint) RETURNS bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT sharing._config_all() OR company = sharing._config_company() $$;

-- A referenced row that must exist when a trigger judges a change (a row created
-- later in the same statement would escape the checks), and be visible to the
-- acting party (another company's row is reported as missing, never described);
-- `company` is what the caller read for it, NULL when it is missing.
CREATE FUNCTION sharing._require_existing(kind text, id bigint, company bigint) RETURNS void
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

-- The company's default role, or an error that says how to fix it.
CREATE FUNCTION sharing._default_role(company_id bigint) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid bigint;
BEGIN
    SELECT r.id INTO rid FROM sharing.roles r WHERE r.company_id = _default_role.company_id AND r.is_default;
    IF rid IS NULL THEN
        RAISE EXCEPTION 'company % has no default role', company_id
            USING ERRCODE = 'check_violation',
                  HINT = 'mark one role of the company with is_default = true';
    END IF;
    RETURN rid;
END
$$;

---------------------------------------------------------------------------
-- companies: only superuser viewers (or DBAs) manage them; a new company gets
-- the standard Administrator / Manager / User / Guest roles (docs/concepts.md,
-- "The pieces"). Its owner changes hands by the owner, a superuser viewer or a DBA
-- (docs/concepts.md, "The company owner").
---------------------------------------------------------------------------
CREATE FUNCTION sharing._superuser_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._require_superuser();
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;

-- The owner of `company` may be `owner`: an existing active user of that company.
CREATE FUNCTION sharing._check_owner(company bigint, owner bigint) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u record;
BEGIN
    SELECT x.company_id, x.status INTO u FROM sharing.users x WHERE x.id = owner FOR KEY SHARE;
    PERFORM sharing._require_existing('user', owner, u.company_id);
    IF u.company_id <> company THEN
        RAISE EXCEPTION 'user % of company % cannot own company %', owner, u.company_id, company
            USING ERRCODE = 'check_violation',
                  HINT = 'the owner of a company is one of its own users';
    END IF;
    IF u.status <> 'active' THEN
        RAISE EXCEPTION 'user % is % and cannot own company %', owner, u.status, company
            USING ERRCODE = 'check_violation',
                  HINT = format('activate user %s first: UPDATE sharing.users SET status = ''active'' WHERE id = %s', owner, owner);
    END IF;
END
$$;

CREATE FUNCTION sharing._companies_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.name = OLD.name
       AND NEW.owner_user IS DISTINCT FROM OLD.owner_user THEN
        -- Only the owner changes: ownership rules, not the superuser's. An owner who
        -- moved to another company (a DBA's or their own doing, judged by users_guard)
        -- is cleared without anyone else's consent.
        IF NEW.owner_user IS NOT NULL
           OR EXISTS (SELECT 1 FROM sharing.users u WHERE u.id = OLD.owner_user AND u.company_id = OLD.id) THEN
            PERFORM sharing._require_ownership_transfer(OLD.id, OLD.owner_user);
        END IF;
    ELSE
        PERFORM sharing._require_superuser();
        IF TG_OP = 'UPDATE' AND NEW.owner_user IS DISTINCT FROM OLD.owner_user THEN
            PERFORM sharing._require_ownership_transfer(OLD.id, OLD.owner_user);
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    IF NEW.owner_user IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.owner_user IS DISTINCT FROM OLD.owner_user OR NEW.id <> OLD.id) THEN
        PERFORM sharing._check_owner(NEW.id, NEW.owner_user);
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION sharing._companies_seed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    admin_id bigint;
    manager_id bigint;
    user_id bigint;
    guest_id bigint;
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
    -- Guest: nothing at all; its id comes from its own range (sql/schema.sql), so the
    -- other roles keep the ids they had before Guest existed.
    INSERT INTO sharing.roles (id, company_id, name, description, reports_to, is_protected)
    VALUES (nextval('sharing.guest_role_id_seq'), NEW.id, 'Guest',
            'No permissions and no privileges: only what is shared with them', manager_id, true)
    RETURNING id INTO guest_id;
    -- The standard roles are known by identity, not by name (renamed, they stay standard).
    INSERT INTO sharing._standard_roles (role_id, kind)
    VALUES (admin_id, 'administrator'), (manager_id, 'manager'), (user_id, 'user'), (guest_id, 'guest');
    INSERT INTO sharing.role_permissions (role_id, object_type, action, level)
    SELECT s.role_id, t.name, a.action, s.level
      FROM (VALUES (manager_id, 'all'), (user_id, 'owned')) AS s (role_id, level)
     CROSS JOIN sharing.object_types t
     CROSS JOIN (VALUES ('create'), ('view'), ('edit'), ('delete')) AS a (action);
    RETURN NULL;
END
$$;

CREATE TRIGGER companies_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.companies
    FOR EACH ROW EXECUTE FUNCTION sharing._companies_guard();
CREATE TRIGGER companies_seed AFTER INSERT ON sharing.companies
    FOR EACH ROW EXECUTE FUNCTION sharing._companies_seed();

---------------------------------------------------------------------------
-- object_types: global, so only a DBA session manages them; a new type gets the
-- standard rows of every company's standard Manager (all) and User (owned) roles.
---------------------------------------------------------------------------
CREATE FUNCTION sharing._object_types_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._require_dba('change sharing.object_types (global to every company)');
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION sharing._object_types_seed() RETURNS trigger
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

CREATE TRIGGER object_types_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.object_types
    FOR EACH ROW EXECUTE FUNCTION sharing._object_types_guard();
CREATE TRIGGER object_types_seed AFTER INSERT ON sharing.object_types
    FOR EACH ROW EXECUTE FUNCTION sharing._object_types_seed();

---------------------------------------------------------------------------
-- users: manage_users; superuser flags only from superusers; every active user
-- keeps at least one role (invariant 3).
---------------------------------------------------------------------------
CREATE FUNCTION sharing._users_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The owner of a company is deleted, disabled (or made pending) or moved away
    -- only by themselves or a DBA session (docs/concepts.md, "The company owner").
    IF TG_OP IN ('UPDATE', 'DELETE')
       AND EXISTS (SELECT 1 FROM sharing.companies c WHERE c.id = OLD.company_id AND c.owner_user = OLD.id)
       AND (TG_OP = 'DELETE' OR NEW.company_id <> OLD.company_id
            OR (NEW.status <> OLD.status AND NEW.status <> 'active')) THEN
        PERFORM sharing._require_self_or_dba(OLD.id,
            CASE WHEN TG_OP = 'DELETE' THEN format('delete user %s, the owner of company %s', OLD.id, OLD.company_id)
                 WHEN NEW.company_id <> OLD.company_id
                 THEN format('move user %s, the owner of company %s, to company %s', OLD.id, OLD.company_id, NEW.company_id)
                 ELSE format('make user %s, the owner of company %s, %s', OLD.id, OLD.company_id, NEW.status) END);
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF sharing._company_exists(OLD.company_id) THEN
            PERFORM sharing._require_privilege('manage_users', OLD.company_id);
            PERFORM sharing._require_user_within(OLD.id);
            -- A deleted owner leaves the company without one (after the checks, which
            -- judge the deletion with the owner's rights still in place).
            -- (Only then: an UPDATE fires the companies' statement triggers even when
            -- it changes no row.)
            IF EXISTS (SELECT 1 FROM sharing.companies c WHERE c.id = OLD.company_id AND c.owner_user = OLD.id) THEN
                UPDATE sharing.companies c SET owner_user = NULL WHERE c.id = OLD.company_id;
                RAISE NOTICE 'company % has no owner any more: its owner, user %, is deleted', OLD.company_id, OLD.id;
            END IF;
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

CREATE FUNCTION sharing._users_keep_a_role() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.company_id <> OLD.company_id THEN
        -- Moving to another company: the new company's default role replaces the old roles.
        INSERT INTO sharing.user_roles (user_id, role_id)
        VALUES (NEW.id, sharing._default_role(NEW.company_id))
        ON CONFLICT (user_id, role_id) DO NOTHING;
        DELETE FROM sharing.user_roles m
         USING sharing.roles r
         WHERE m.user_id = NEW.id AND r.id = m.role_id AND r.company_id <> NEW.company_id;
        RAISE NOTICE 'user % moved to company %: their roles were replaced by its default role',
            NEW.id, NEW.company_id;
        -- An owner who moves away leaves their old company without an owner.
        IF EXISTS (SELECT 1 FROM sharing.companies c WHERE c.id = OLD.company_id AND c.owner_user = NEW.id) THEN
            UPDATE sharing.companies c SET owner_user = NULL WHERE c.id = OLD.company_id;
            RAISE NOTICE 'company % has no owner any more: its owner, user %, moved to company %',
                OLD.company_id, NEW.id, NEW.company_id;
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM sharing.user_roles m WHERE m.user_id = NEW.id)
          AND (TG_OP = 'INSERT' OR NEW.status = 'active') THEN
        INSERT INTO sharing.user_roles (user_id, role_id)
        VALUES (NEW.id, sharing._default_role(NEW.company_id));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.users
    FOR EACH ROW EXECUTE FUNCTION sharing._users_guard();
CREATE TRIGGER users_keep_a_role AFTER INSERT OR UPDATE OF company_id, status ON sharing.users
    FOR EACH ROW EXECUTE FUNCTION sharing._users_keep_a_role();

---------------------------------------------------------------------------
-- roles: manage_roles; acyclic reports_to / based_on inside one company
-- (invariant 1); one default per company; protected roles and roles still in use
-- are not deleted (invariant 4).
---------------------------------------------------------------------------
CREATE FUNCTION sharing._roles_check() RETURNS trigger
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

CREATE FUNCTION sharing._roles_before_delete() RETURNS trigger
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

CREATE TRIGGER roles_check BEFORE INSERT OR UPDATE ON sharing.roles
    FOR EACH ROW EXECUTE FUNCTION sharing._roles_check();
CREATE TRIGGER roles_before_delete BEFORE DELETE ON sharing.roles
    FOR EACH ROW EXECUTE FUNCTION sharing._roles_before_delete();

---------------------------------------------------------------------------
-- user_roles: manage_users and no escalation; a role of the user's own company;
-- removing the last role assigns the default role, unless it is the default role.
---------------------------------------------------------------------------
CREATE FUNCTION sharing._user_roles_check() RETURNS trigger
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
    -- Nor a role for a user above the viewer or holding more (docs/security.md).
    PERFORM sharing._require_user_within(NEW.user_id);
    RETURN NEW;
END
$$;

CREATE FUNCTION sharing._user_roles_keep_one() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u record;
    default_id bigint;
    role_name text;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.user_id = OLD.user_id AND NEW.role_id = OLD.role_id THEN
        RETURN NULL;
    END IF;
    SELECT * INTO u FROM sharing.users x WHERE x.id = OLD.user_id FOR NO KEY UPDATE;
    IF NOT FOUND OR u.status <> 'active' OR NOT sharing._company_exists(u.company_id)
       OR EXISTS (SELECT 1 FROM sharing.user_roles m WHERE m.user_id = OLD.user_id) THEN
        RETURN NULL;
    END IF;
    default_id := sharing._default_role(u.company_id);
    IF default_id = OLD.role_id THEN
        SELECT r.name INTO role_name FROM sharing.roles r WHERE r.id = OLD.role_id;
        RAISE EXCEPTION 'cannot remove role "%" from user %: it is the default role and their only role',
                role_name, OLD.user_id
            USING ERRCODE = 'check_violation',
                  HINT = 'assign the user another role first, then remove this one';
    END IF;
    INSERT INTO sharing.user_roles (user_id, role_id) VALUES (OLD.user_id, default_id);
    RAISE NOTICE 'user % lost their last role and now has the default role', OLD.user_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER user_roles_check BEFORE INSERT OR UPDATE OR DELETE ON sharing.user_roles
    FOR EACH ROW EXECUTE FUNCTION sharing._user_roles_check();
CREATE TRIGGER user_roles_keep_one AFTER UPDATE OR DELETE ON sharing.user_roles
    FOR EACH ROW EXECUTE FUNCTION sharing._user_roles_keep_one();

---------------------------------------------------------------------------
-- role_permissions: manage_roles, levels within the viewer's own (invariant 5),
-- coherent per role and type (invariant 2).
---------------------------------------------------------------------------
CREATE FUNCTION sharing._role_permissions_guard() RETURNS trigger
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

CREATE FUNCTION sharing._role_permissions_coherent() RETURNS trigger
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

CREATE TRIGGER role_permissions_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.role_permissions
    FOR EACH ROW EXECUTE FUNCTION sharing._role_permissions_guard();
CREATE TRIGGER role_permissions_coherent AFTER INSERT OR UPDATE OR DELETE ON sharing.role_permissions
    FOR EACH ROW EXECUTE FUNCTION sharing._role_permissions_coherent();

---------------------------------------------------------------------------
-- role_privileges: valid names, manage_roles, only privileges the viewer holds.
---------------------------------------------------------------------------
CREATE FUNCTION sharing._role_privileges_guard() RETURNS trigger
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

CREATE TRIGGER role_privileges_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.role_privileges
    FOR EACH ROW EXECUTE FUNCTION sharing._role_privileges_guard();

---------------------------------------------------------------------------
-- sharing_rules: roles of the rule's company, manage_sharing, and only access the
-- viewer holds on every record of the type.
---------------------------------------------------------------------------
CREATE FUNCTION sharing._sharing_rules_guard() RETURNS trigger
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

CREATE TRIGGER sharing_rules_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.sharing_rules
    FOR EACH ROW EXECUTE FUNCTION sharing._sharing_rules_guard();

---------------------------------------------------------------------------
-- agreements and their permissions: only from the grantor company (invariant 6),
-- with manage_sharing, for actions the viewer holds on every record.
---------------------------------------------------------------------------
CREATE FUNCTION sharing._agreements_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE')
       AND sharing._company_exists(OLD.grantor_company) AND sharing._company_exists(OLD.grantee_company) THEN
        PERFORM sharing._require_grantor(OLD.grantor_company, OLD.grantee_company);
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    PERFORM sharing._require_grantor(NEW.grantor_company, NEW.grantee_company);
    RETURN NEW;
END
$$;

CREATE FUNCTION sharing._agreement_permissions_guard() RETURNS trigger
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

CREATE TRIGGER agreements_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.agreements
    FOR EACH ROW EXECUTE FUNCTION sharing._agreements_guard();
CREATE TRIGGER agreement_permissions_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.agreement_permissions
    FOR EACH ROW EXECUTE FUNCTION sharing._agreement_permissions_guard();

---------------------------------------------------------------------------
-- trusted_app_roles: a DBA session only (they choose who may act for any user).
---------------------------------------------------------------------------
CREATE FUNCTION sharing._dba_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._require_dba(format('change sharing.%I', TG_TABLE_NAME));
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER trusted_app_roles_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.trusted_app_roles
    FOR EACH ROW EXECUTE FUNCTION sharing._dba_guard();

---------------------------------------------------------------------------
-- Ids ahead of their sequence: the identity ids of the configuration are shared by
-- every company, so an id a viewer chooses beyond the sequence's last value would
-- make another company's next insert fail (docs/security.md). When an acting viewer
-- chooses an id a little ahead (up to a million), the sequence moves past it; far
-- ahead is refused (it would exhaust the sequence). DBA sessions choose freely.
---------------------------------------------------------------------------
CREATE FUNCTION sharing._no_ids_ahead() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seq text := pg_get_serial_sequence(format('sharing.%I', TG_TABLE_NAME), 'id');
    last bigint;
BEGIN
    IF sharing.current_viewer() IS NULL THEN
        RETURN NEW;  -- a DBA session (anyone else is refused by the table's guard)
    END IF;
    -- Guest roles take their ids from a sequence of their own (sql/schema.sql).
    IF TG_TABLE_NAME = 'roles' AND NEW.id >= 1000000000001
       AND NEW.id <= (SELECT CASE WHEN g.is_called THEN g.last_value ELSE g.last_value - 1 END
                        FROM sharing.guest_role_id_seq g) THEN
        RETURN NEW;
    END IF;
    EXECUTE format('SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %s s', seq)
       INTO last;
    IF NEW.id > last + 1000000 THEN
        RAISE EXCEPTION 'id % of sharing.% is far ahead of its sequence (last given: %)', NEW.id, TG_TABLE_NAME, last
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'leave the id out: the sequence gives it';
    ELSIF NEW.id > last THEN
        PERFORM setval(seq, NEW.id);
    END IF;
    RETURN NEW;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['companies', 'roles', 'user_roles', 'role_permissions', 'role_privileges',
                             'sharing_rules', 'agreements', 'agreement_permissions'] LOOP
        EXECUTE format('CREATE TRIGGER a_no_ids_ahead BEFORE INSERT ON sharing.%I
                          FOR EACH ROW EXECUTE FUNCTION sharing._no_ids_ahead()', t);
    END LOOP;
END
$$;

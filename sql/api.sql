-- pg_sharing: helper functions and views (docs/concepts.md, "Effective permissions"; docs/sql-reference.md, "Views") written in SQL.
-- They are SECURITY INVOKER: the caller needs the same table privileges as for the
-- equivalent DML, and the triggers apply exactly as they would to that DML.

-- A company with the standard Administrator / Manager / User / Guest roles (seeded by
-- the companies_seed trigger, so a plain INSERT gets them too) and, when owner_user is
-- given, its owner: a new active user of the company with that id (docs/concepts.md,
-- "The company owner").
CREATE FUNCTION sharing.create_company(name text, owner_user bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
    elsewhere bigint;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'the name of a new company cannot be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO sharing.companies (name) VALUES (create_company.name) RETURNING id INTO new_id;
    IF owner_user IS NOT NULL THEN
        SELECT u.company_id INTO elsewhere FROM sharing.users u WHERE u.id = create_company.owner_user;
        IF FOUND THEN
            RAISE EXCEPTION 'user % already exists (in company %) and cannot become the owner of the new company "%"',
                    owner_user, elsewhere, name
                USING ERRCODE = 'unique_violation',
                      HINT = 'create_company creates its owner as a new user; to hand an existing company to one of its users, use sharing.transfer_ownership()';
        END IF;
        INSERT INTO sharing.users (id, company_id) VALUES (create_company.owner_user, new_id);
        UPDATE sharing.companies c SET owner_user = create_company.owner_user WHERE c.id = new_id;
    END IF;
    RETURN new_id;
END
$$;

-- Hand a company to another of its active users. The owner, a superuser viewer or a
-- DBA session may (the companies_guard trigger judges it); the new owner has admin
-- rights from then on, the old one keeps only their roles.
CREATE FUNCTION sharing.transfer_ownership(company bigint, new_owner bigint) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_owner bigint;
BEGIN
    IF company IS NULL OR new_owner IS NULL THEN
        RAISE EXCEPTION 'transfer_ownership(%, %): the company and the new owner cannot be NULL',
                coalesce(company::text, 'NULL'), coalesce(new_owner::text, 'NULL')
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.owner_user INTO old_owner FROM sharing.companies c WHERE c.id = company;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'company % does not exist', company
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF old_owner = new_owner THEN
        RAISE NOTICE 'user % already owns company %', new_owner, company;
        RETURN;
    END IF;
    UPDATE sharing.companies c SET owner_user = new_owner WHERE c.id = company;
END
$$;

-- A new role with the same permissions, privileges, place in the hierarchy and base;
-- never the members, never default or protected. A role with is_copyable = false is
-- refused (55000: a state of the role, not a right of the caller; Bitrix24's Head).
-- The copy itself is copyable.
CREATE FUNCTION sharing.copy_role(role_id bigint, new_name text) RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src sharing.roles;
    new_id bigint;
BEGIN
    SELECT * INTO src FROM sharing.roles r WHERE r.id = copy_role.role_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role % does not exist', role_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT src.is_copyable THEN
        RAISE EXCEPTION 'role "%" (%) cannot be copied', src.name, src.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('its is_copyable is false; UPDATE sharing.roles SET is_copyable = true WHERE id = %s allows copies', src.id);
    END IF;
    IF EXISTS (SELECT 1 FROM sharing.roles r WHERE r.company_id = src.company_id AND r.name = new_name) THEN
        RAISE EXCEPTION 'company % already has a role named "%"', src.company_id, new_name
            USING ERRCODE = 'unique_violation',
                  HINT = 'choose another name for the copy';
    END IF;
    INSERT INTO sharing.roles (company_id, name, description, reports_to, based_on, is_admin)
    VALUES (src.company_id, new_name, src.description, src.reports_to, src.based_on, src.is_admin)
    RETURNING id INTO new_id;
    INSERT INTO sharing.role_permissions (role_id, object_type, action, level)
    SELECT new_id, p.object_type, p.action, p.level
      FROM sharing.role_permissions p WHERE p.role_id = src.id;
    INSERT INTO sharing.role_privileges (role_id, privilege)
    SELECT new_id, p.privilege FROM sharing.role_privileges p WHERE p.role_id = src.id;
    RETURN new_id;
END
$$;

-- Delete a role (invariant 4, docs/concepts.md "Deleting a role"). Its members who
-- hold another role keep their other roles and are not moved; only those left with
-- no role get reassign_to, or the company's default role when it is NULL. Every
-- change is ordinary DML, so the triggers judge it (a protected or default role, or
-- one with subordinates or dependants, is still refused; nothing is half-written).
CREATE FUNCTION sharing.delete_role(role_id bigint, reassign_to bigint DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    victim sharing.roles;
    heir sharing.roles;
    heir_id bigint;
BEGIN
    SELECT * INTO victim FROM sharing.roles r WHERE r.id = delete_role.role_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role % does not exist', coalesce(role_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF reassign_to IS NOT NULL THEN
        SELECT * INTO heir FROM sharing.roles r WHERE r.id = reassign_to;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'cannot reassign the members of role "%" to role %: it does not exist',
                    victim.name, reassign_to
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF heir.id = victim.id THEN
            RAISE EXCEPTION 'cannot reassign the members of role "%" to itself', victim.name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF heir.company_id <> victim.company_id THEN
            RAISE EXCEPTION 'cannot reassign the members of role "%" (company %) to role "%" of company %',
                    victim.name, victim.company_id, heir.name, heir.company_id
                USING ERRCODE = 'check_violation',
                      HINT = 'choose a role of the same company';
        END IF;
    END IF;
    -- The refusals of the roles_before_delete trigger that do not depend on the
    -- members, first: their message, not a consequence of moving members.
    IF victim.is_protected THEN
        RAISE EXCEPTION 'role "%" (%) is protected and cannot be deleted', victim.name, victim.id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'set is_protected = false first if it really must go';
    END IF;
    IF victim.is_default THEN
        RAISE EXCEPTION 'role "%" (%) is the default role of company % and cannot be deleted',
                victim.name, victim.id, victim.company_id
            USING ERRCODE = 'check_violation',
                  HINT = 'mark another role with is_default = true first';
    END IF;
    -- Members whose only role this is go to the heir (the default role when none is named).
    IF EXISTS (SELECT 1 FROM sharing.user_roles m
                WHERE m.role_id = victim.id
                  AND NOT EXISTS (SELECT 1 FROM sharing.user_roles o
                                   WHERE o.user_id = m.user_id AND o.role_id <> victim.id)) THEN
        heir_id := coalesce(heir.id, sharing._default_role(victim.company_id));
        INSERT INTO sharing.user_roles (user_id, role_id)
        SELECT m.user_id, heir_id FROM sharing.user_roles m
         WHERE m.role_id = victim.id
           AND NOT EXISTS (SELECT 1 FROM sharing.user_roles o
                            WHERE o.user_id = m.user_id AND o.role_id <> victim.id);
    END IF;
    DELETE FROM sharing.user_roles m WHERE m.role_id = victim.id;
    DELETE FROM sharing.roles r WHERE r.id = victim.id;
END
$$;

-- Toggle all (Administrate, Bitrix24): create, view, edit and delete of one role set
-- to one level at once, for one object type or (object_type NULL) every type; one
-- statement on role_permissions, so the triggers judge it like that DML (who may,
-- within the caller's own levels, coherence, the check by effect).
CREATE FUNCTION sharing.set_role_levels(role bigint, object_type text, level text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target sharing.roles;
BEGIN
    SELECT * INTO target FROM sharing.roles r WHERE r.id = set_role_levels.role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role % does not exist', coalesce(set_role_levels.role::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF set_role_levels.level IS NULL OR set_role_levels.level NOT IN ('none', 'owned', 'all') THEN
        RAISE EXCEPTION 'unknown level %', coalesce(quote_literal(set_role_levels.level), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'a level is none, owned or all';
    END IF;
    IF set_role_levels.object_type IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM sharing.object_types t WHERE t.name = set_role_levels.object_type) THEN
        RAISE EXCEPTION 'unknown object type "%"', set_role_levels.object_type
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'object types are listed in sharing.object_types; NULL means every type';
    END IF;
    INSERT INTO sharing.role_permissions AS p (role_id, object_type, action, level)
    SELECT target.id, t.name, a.action, set_role_levels.level
      FROM sharing.object_types t
     CROSS JOIN unnest(ARRAY['create', 'view', 'edit', 'delete']) AS a (action)
     WHERE set_role_levels.object_type IS NULL OR t.name = set_role_levels.object_type
    ON CONFLICT ON CONSTRAINT role_permissions_role_id_object_type_action_key
    DO UPDATE SET level = EXCLUDED.level WHERE p.level IS DISTINCT FROM EXCLUDED.level;
END
$$;

-- Privileges as a list (Intum): a comma- and/or space-separated list made the role's
-- exact set: the others are deleted, the missing ones inserted, through
-- role_privileges so that its trigger judges each (names, who may, no escalation).
-- An empty string removes them all.
CREATE FUNCTION sharing.set_role_privileges(role bigint, privileges text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target sharing.roles;
    wanted text[];
BEGIN
    SELECT * INTO target FROM sharing.roles r WHERE r.id = set_role_privileges.role;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role % does not exist', coalesce(set_role_privileges.role::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF set_role_privileges.privileges IS NULL THEN
        RAISE EXCEPTION 'the privilege list of role "%" (%) is NULL', target.name, target.id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'give an empty string for no privileges';
    END IF;
    wanted := sharing._privilege_list(set_role_privileges.privileges);
    DELETE FROM sharing.role_privileges p
     WHERE p.role_id = target.id AND p.privilege <> ALL (wanted);
    INSERT INTO sharing.role_privileges (role_id, privilege)
    SELECT target.id, w.name
      FROM unnest(wanted) WITH ORDINALITY AS w (name, n)
     WHERE NOT EXISTS (SELECT 1 FROM sharing.role_privileges p
                        WHERE p.role_id = target.id AND p.privilege = w.name)
     ORDER BY w.n;
END
$$;

-- Every role's effective level per object type and action, for comparing roles
-- side by side and filtering by permission (Administrate's Permissions Comparison).
CREATE VIEW sharing.role_permission_matrix AS
SELECT c.name AS company, r.name AS role, m.object_type, m.action, m.level,
       m.company_id, m.role_id
  FROM sharing._role_matrix() m
  JOIN sharing.roles r ON r.id = m.role_id
  JOIN sharing.companies c ON c.id = m.company_id;

-- Every privilege every role gives, beside role_permission_matrix (Administrate's
-- Permissions Comparison): inherited = not the role's own row (through based_on, or
-- a system privilege of an admin role; docs/concepts.md, "Comparing privileges").
CREATE VIEW sharing.role_privilege_matrix AS
SELECT c.name AS company, r.name AS role, m.privilege, m.inherited,
       m.company_id, m.role_id
  FROM sharing._role_privilege_matrix() m
  JOIN sharing.roles r ON r.id = m.role_id
  JOIN sharing.companies c ON c.id = m.company_id;

-- Who holds which role, and since when; the member's department last (since 0.4.0).
CREATE VIEW sharing.role_members AS
SELECT r.name AS role, u.name AS "user", c.name AS company, m.assigned_at,
       m.role_id, m.user_id, r.company_id, u.department
  FROM sharing.user_roles m
  JOIN sharing.roles r ON r.id = m.role_id
  JOIN sharing.users u ON u.id = m.user_id
  JOIN sharing.companies c ON c.id = r.company_id;

-- The viewer's own effective permissions (what an application draws its menus from).
-- Since 0.2.0.
CREATE FUNCTION sharing.my_permissions() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT sharing.effective_perms(sharing.current_viewer()) $$;

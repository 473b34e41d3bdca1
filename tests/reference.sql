-- A reference implementation of the decision (docs/concepts.md, "The decision") in plain SQL (recursive CTEs), written
-- straight from the text of the spec and independent of the Rust engine. The
-- differential test compares the two on random organizations.
CREATE SCHEMA ref;

CREATE FUNCTION ref.rank(level text) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE level WHEN 'all' THEN 2 WHEN 'owned' THEN 1 ELSE 0 END $$;

-- Roles strictly below `anchor` in the reports_to hierarchy.
CREATE FUNCTION ref.subordinates(anchor bigint) RETURNS SETOF bigint LANGUAGE sql STABLE AS $$
  WITH RECURSIVE down(id) AS (
    SELECT r.id FROM sharing.roles r WHERE r.reports_to = anchor
    UNION
    SELECT r.id FROM sharing.roles r JOIN down d ON r.reports_to = d.id)
  SELECT id FROM down $$;

-- Some role of `o` strictly below some role of `v`, both users of one company.
CREATE FUNCTION ref.below(o bigint, v bigint) RETURNS bool LANGUAGE sql STABLE AS $$
  SELECT o IS NOT NULL AND v IS NOT NULL
     AND (SELECT company_id FROM sharing.users WHERE id = o) = (SELECT company_id FROM sharing.users WHERE id = v)
     AND EXISTS (SELECT 1
                   FROM sharing.user_roles vr
                   JOIN sharing.user_roles orl ON orl.user_id = o
                  WHERE vr.user_id = v
                    AND orl.role_id IN (SELECT ref.subordinates(vr.role_id))) $$;

CREATE FUNCTION ref.in_scope(role bigint, anchor bigint, scope text) RETURNS bool LANGUAGE sql STABLE AS $$
  SELECT role = anchor OR (scope = 'role_and_subordinates' AND role IN (SELECT ref.subordinates(anchor))) $$;

-- A sharing rule of v's company for type t (NULL: rules for every type only),
-- whose access covers `action`, covers a role of `o` (source) and of `v` (target).
CREATE FUNCTION ref.rule_covers(o bigint, v bigint, t text, action text) RETURNS bool LANGUAGE sql STABLE AS $$
  SELECT o IS NOT NULL AND EXISTS (
    SELECT 1
      FROM sharing.sharing_rules s
      JOIN sharing.users vu ON vu.id = v AND vu.company_id = s.company_id
      JOIN sharing.users ou ON ou.id = o AND ou.company_id = vu.company_id
     WHERE (s.object_type IS NULL OR s.object_type = t)
       AND (action = 'view' OR (action = 'edit' AND s.access = 'read_write'))
       AND EXISTS (SELECT 1 FROM sharing.user_roles m WHERE m.user_id = o AND ref.in_scope(m.role_id, s.source_role, s.source_scope))
       AND EXISTS (SELECT 1 FROM sharing.user_roles m WHERE m.user_id = v AND ref.in_scope(m.role_id, s.target_role, s.target_scope))) $$;

-- A role's level: own rows plus the based_on cascade, highest wins; admin is all.
CREATE FUNCTION ref.role_level(role bigint, t text, action text) RETURNS int LANGUAGE sql STABLE AS $$
  WITH RECURSIVE chain(id) AS (
    SELECT role
    UNION
    SELECT r.based_on FROM sharing.roles r JOIN chain c ON r.id = c.id WHERE r.based_on IS NOT NULL)
  SELECT CASE
    WHEN EXISTS (SELECT 1 FROM sharing.roles r JOIN chain c ON r.id = c.id WHERE r.is_admin)
      OR EXISTS (SELECT 1 FROM sharing.role_privileges p JOIN chain c ON p.role_id = c.id WHERE p.privilege = 'admin')
    THEN 2
    ELSE COALESCE((SELECT max(ref.rank(p.level)) FROM sharing.role_permissions p JOIN chain c ON p.role_id = c.id
                    WHERE p.object_type = t AND p.action = role_level.action), 0)
  END $$;

-- A user's level: the union (max) of their roles; nothing unless active.
CREATE FUNCTION ref.user_level(u bigint, t text, action text) RETURNS int LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN (SELECT status FROM sharing.users WHERE id = u) IS DISTINCT FROM 'active' THEN 0
    WHEN (SELECT is_superuser FROM sharing.users WHERE id = u) THEN 2
    ELSE COALESCE((SELECT max(ref.role_level(m.role_id, t, action)) FROM sharing.user_roles m WHERE m.user_id = u), 0)
  END $$;

CREATE FUNCTION ref.can_see(o bigint, v bigint) RETURNS bool LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN NOT EXISTS (SELECT 1 FROM sharing.users WHERE id = v AND status = 'active') THEN false
    WHEN (SELECT is_superuser FROM sharing.users WHERE id = v) THEN true
    WHEN o = v THEN true
    WHEN NOT EXISTS (SELECT 1 FROM sharing.users WHERE id = o) THEN false
    ELSE ref.below(o, v) OR ref.rule_covers(o, v, NULL, 'view')
  END $$;

-- Record shares (SPEC §9): a share of record `rid` of type t counts when it is live
-- (valid_from <= now() < valid_until, or no end; now() is the transaction's start),
-- when it was made in the record's company c and c is v's company, when its access
-- covers the action (read: view; read_write: view and edit; never create or delete),
-- and when it reaches v: the named user, or a member of the named role, or with
-- role_and_subordinates a member of a role strictly below it (never above).
CREATE FUNCTION ref.share_allows(t text, rid text, c bigint, v bigint, action text) RETURNS bool LANGUAGE sql STABLE AS $$
  SELECT rid IS NOT NULL AND c IS NOT NULL AND EXISTS (
    SELECT 1
      FROM sharing.record_shares s
      JOIN sharing.users vu ON vu.id = v AND vu.company_id = c
     WHERE s.object_type = t AND s.record_id = rid AND s.company_id = c
       AND s.valid_from <= now() AND (s.valid_until IS NULL OR now() < s.valid_until)
       AND (action = 'view' OR (action = 'edit' AND s.access = 'read_write'))
       AND (s.user_id = v
            OR (s.role_id IS NOT NULL AND EXISTS (
                  SELECT 1 FROM sharing.user_roles m
                   WHERE m.user_id = v AND ref.in_scope(m.role_id, s.role_id, coalesce(s.scope, 'role')))))) $$;

-- The decision on one record: owner o, company c, assignees a (one assignee as a
-- one-element array, participants as they are, NULL for none), record id rid
-- (NULL: no record shares are considered).
CREATE FUNCTION ref.decide(t text, action text, o bigint, c bigint, v bigint, a bigint[], rid text) RETURNS bool
LANGUAGE plpgsql STABLE AS $$
DECLARE
  vu sharing.users;
  lvl int;
  ot sharing.object_types;
BEGIN
  SELECT * INTO vu FROM sharing.users WHERE id = v;
  IF NOT FOUND OR vu.status <> 'active' THEN RETURN false; END IF;         -- 1
  IF vu.is_superuser THEN RETURN true; END IF;
  lvl := ref.user_level(v, t, action);                                      -- 2
  IF c IS NULL THEN RETURN false; END IF;
  IF c <> vu.company_id AND NOT vu.is_super_company_member THEN             -- 3
    RETURN lvl > 0 AND EXISTS (
      SELECT 1 FROM sharing.agreements g JOIN sharing.agreement_permissions p ON p.agreement_id = g.id
       WHERE g.grantor_company = c AND g.grantee_company = vu.company_id
         AND p.object_type = t AND p.action = decide.action);
  END IF;
  IF lvl = 0 THEN RETURN false; END IF;                                     -- 4
  IF lvl = 2 THEN RETURN true; END IF;
  IF action = 'create' THEN                                                 -- 5
    RETURN coalesce(o = v, false) OR ref.below(o, v);
  END IF;
  IF o = v OR v = ANY (a) THEN RETURN true; END IF;
  SELECT * INTO ot FROM sharing.object_types WHERE name = t;
  IF ot.grant_via_hierarchy
     AND (ref.below(o, v) OR EXISTS (SELECT 1 FROM unnest(a) x WHERE ref.below(x, v))) THEN
    RETURN true;
  END IF;
  IF ref.rule_covers(o, v, t, action)
     OR EXISTS (SELECT 1 FROM unnest(a) x WHERE ref.rule_covers(x, v, t, action)) THEN
    RETURN true;
  END IF;
  IF (ot.org_wide_default = 'public_read' AND action = 'view')
     OR (ot.org_wide_default = 'public_read_write' AND action IN ('view', 'edit')) THEN
    RETURN true;
  END IF;
  RETURN ref.share_allows(t, rid, c, v, action);
END $$;

-- The decision without a record (no record shares), one assignee or none.
CREATE FUNCTION ref.can_access(t text, action text, o bigint, c bigint, v bigint, a bigint) RETURNS bool
LANGUAGE sql STABLE AS $$
  SELECT ref.decide(t, action, o, c, v, array_remove(ARRAY[a], NULL), NULL) $$;

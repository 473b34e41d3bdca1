-- pg_sharing: the configuration generation (see src/backend/models.rs).
-- Every statement that may change a sharing table first replaces the one row's
-- `gen` with a fresh sequence value. Backends read it in their statement's
-- snapshot and rebuild their compiled model when it differs from the cached one.
-- The row lock also serializes configuration writers, so generations commit in order.

CREATE SEQUENCE sharing._generation_seq;
CREATE TABLE sharing._generation (
    singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
    gen       bigint NOT NULL
);
INSERT INTO sharing._generation (gen) VALUES (nextval('sharing._generation_seq'));

-- 'table-oid generation writer-xid', for people and tests: the backend reads the
-- table itself (src/backend/models.rs), since a SQL function with a SET clause is
-- parsed and planned again at every call.
CREATE FUNCTION sharing._generation_key() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT g.tableoid::int8::text || ' ' || g.gen::text || ' ' || g.xmin::text FROM sharing._generation g $$;

-- Record shares are not compiled into the model (docs/design.md, "Record shares"),
-- so writing one must not move the generation. Their writers, and the writers of the
-- configuration, update this row instead: a transaction judging a share or a change
-- in an older snapshot (REPEATABLE READ) than a concurrent share or configuration
-- change then fails to serialize (40001) instead of judging with stale rows.
CREATE TABLE sharing._share_generation (
    singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
    gen       bigint NOT NULL
);
INSERT INTO sharing._share_generation (gen) VALUES (0);

CREATE FUNCTION sharing._bump_share_generation() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE sharing._share_generation SET gen = gen + 1;
    -- A plan may carry the records shared with the viewer it was made for as
    -- constants (src/backend/planner.rs; a guard keeps it right, but slow, when they
    -- change): other sessions plan again after this commits.
    PERFORM sharing._forget_plans(c.oid)
       FROM sharing.protected_tables pt
      CROSS JOIN LATERAL sharing._relation_tree(pt.table_name) t
       JOIN pg_catalog.pg_class c ON c.oid = t.relid
      WHERE pt.id_column IS NOT NULL;
    RETURN NULL;
END
$$;

CREATE FUNCTION sharing._bump_generation() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE sharing._generation SET gen = nextval('sharing._generation_seq');
    UPDATE sharing._share_generation SET gen = gen + 1;
    -- Plans of protected tables may be shaped for the old configuration
    -- (src/sql_api/planner.rs): other sessions make them again after this commits.
    PERFORM sharing._forget_plans(c.oid)
       FROM sharing.protected_tables pt
      CROSS JOIN LATERAL sharing._relation_tree(pt.table_name) t
       JOIN pg_catalog.pg_class c ON c.oid = t.relid;
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
        EXECUTE format('CREATE TRIGGER a_bump_generation BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
                          ON sharing.%I FOR EACH STATEMENT EXECUTE FUNCTION sharing._bump_generation()', t);
        -- Also under session_replication_role = replica (logical replication, restores).
        EXECUTE format('ALTER TABLE sharing.%I ENABLE ALWAYS TRIGGER a_bump_generation', t);
    END LOOP;
END
$$;

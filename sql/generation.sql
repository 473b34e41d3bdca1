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
    gen       bigint NOT NULL,
    -- Moved by share writers only: what "does any record of this type have a share"
    -- is cached on (src/backend/shares.rs), so a change of people keeps the answer.
    shares    bigint NOT NULL DEFAULT 0
);
INSERT INTO sharing._share_generation (gen) VALUES (0);

CREATE FUNCTION sharing._bump_share_generation() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE sharing._share_generation SET gen = gen + 1, shares = shares + 1;
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

-- The change log (docs/design.md, "Incremental updates"): what each generation
-- changed, written in the same transaction as the change, so that a backend whose
-- model is older than the generation its statement sees can patch the model with
-- the rows it reads here in the same snapshot (a rolled-back change is never there)
-- instead of compiling the whole configuration again. Per statement on a sharing
-- table: 'B' (written first, with the generation the statement made), then for the
-- tables a model can patch the rows deleted ('D', an update's old rows) and inserted
-- ('I', an update's new rows) and an 'E'; 'X' marks what a backend must rebuild for
-- (another table, a TRUNCATE, more than 256 rows). Internal and transient: a backend
-- whose model is older than the oldest generation kept rebuilds, and a restored
-- database starts with a fresh log, so pg_dump leaves it out (no
-- pg_extension_config_dump).
CREATE TABLE sharing._changes (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gen      bigint NOT NULL,
    tbl      text NOT NULL,
    op       "char" NOT NULL CHECK (op IN ('B', 'E', 'X', 'I', 'D')),
    row_data jsonb
);
CREATE INDEX _changes_gen_idx ON sharing._changes (gen, seq);
REVOKE ALL ON sharing._changes FROM PUBLIC;

CREATE FUNCTION sharing._bump_generation() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g bigint;
BEGIN
    UPDATE sharing._generation SET gen = nextval('sharing._generation_seq') RETURNING gen INTO g;
    UPDATE sharing._share_generation SET gen = gen + 1;
    INSERT INTO sharing._changes (gen, tbl, op) VALUES (g, TG_TABLE_NAME, 'B');
    IF TG_OP = 'TRUNCATE' OR TG_TABLE_NAME NOT IN ('users', 'user_roles', 'role_permissions',
            'role_privileges', 'sharing_rules', 'agreements', 'agreement_permissions') THEN
        INSERT INTO sharing._changes (gen, tbl, op) VALUES (g, TG_TABLE_NAME, 'X');
    END IF;
    -- Keep the log short: a model more than 4096 generations old is rebuilt.
    IF g % 256 = 0 THEN
        DELETE FROM sharing._changes WHERE gen < g - 4096;
    END IF;
    -- Plans of protected tables may be shaped for the old configuration
    -- (src/sql_api/planner.rs): other sessions make them again after this commits.
    -- A change of people is judged by its rows instead (sharing._log_changes).
    IF TG_OP = 'TRUNCATE' OR TG_TABLE_NAME NOT IN ('users', 'user_roles') THEN
        PERFORM sharing._forget_plans(c.oid)
           FROM sharing.protected_tables pt
          CROSS JOIN LATERAL sharing._relation_tree(pt.table_name) t
           JOIN pg_catalog.pg_class c ON c.oid = t.relid;
    END IF;
    RETURN NULL;
END
$$;

-- The rows a statement changed, into the change log (after it, from its transition
-- tables), under the generation the statement made.
CREATE FUNCTION sharing._log_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g bigint := (SELECT x.gen FROM sharing._generation x);
    n bigint := 0;
    forget bool := false;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        n := n + (SELECT count(*) FROM old_rows);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        n := n + (SELECT count(*) FROM new_rows);
    END IF;
    IF n > 256 THEN
        INSERT INTO sharing._changes (gen, tbl, op) VALUES (g, TG_TABLE_NAME, 'X');
    ELSE
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            INSERT INTO sharing._changes (gen, tbl, op, row_data)
            SELECT g, TG_TABLE_NAME, 'D', to_jsonb(o) FROM old_rows o;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO sharing._changes (gen, tbl, op, row_data)
            SELECT g, TG_TABLE_NAME, 'I', to_jsonb(r) FROM new_rows r;
        END IF;
    END IF;
    INSERT INTO sharing._changes (gen, tbl, op) VALUES (g, TG_TABLE_NAME, 'E');
    -- Other sessions keep their plans across a change of people (docs/design.md,
    -- "Plans across configurations"): a plan is right for any configuration, and a
    -- backend plans again when its viewer's class changes — except a plan that reads
    -- an owner index, for a viewer who may now reach records of any owner: one made
    -- a superuser or otherwise changed (an update of users), or given a role that
    -- grants level all somewhere (itself or up its based_on chain, or an admin
    -- role), or any level on a type an org-wide default or an agreement opens.
    -- Then they plan again after this commits, as for any other change.
    IF TG_TABLE_NAME = 'users' AND (TG_OP = 'UPDATE' OR n > 256) THEN
        forget := true;
    ELSIF TG_TABLE_NAME = 'users' AND TG_OP = 'INSERT' THEN
        forget := EXISTS (SELECT 1 FROM new_rows r WHERE r.is_superuser);
    ELSIF TG_TABLE_NAME = 'user_roles' AND TG_OP IN ('INSERT', 'UPDATE') THEN
        forget := n > 256 OR EXISTS (
            WITH RECURSIVE chain (id) AS (
                SELECT r.role_id FROM new_rows r
                 UNION
                SELECT x.based_on FROM sharing.roles x JOIN chain c ON x.id = c.id
                 WHERE x.based_on IS NOT NULL)
            SELECT 1 FROM chain c
             WHERE EXISTS (SELECT 1 FROM sharing.roles x WHERE x.id = c.id AND x.is_admin)
                OR EXISTS (SELECT 1 FROM sharing.role_permissions p
                            WHERE p.role_id = c.id AND p.level = 'all')
                OR EXISTS (SELECT 1 FROM sharing.role_privileges v
                            WHERE v.role_id = c.id AND v.privilege = 'admin')
                -- Any level on a type that an org-wide default or an agreement opens
                -- beyond owners (a viewer of level none had an owner-bounded plan).
                OR EXISTS (SELECT 1 FROM sharing.role_permissions p
                            WHERE p.role_id = c.id AND p.level <> 'none'
                              AND (EXISTS (SELECT 1 FROM sharing.object_types t
                                            WHERE t.name = p.object_type AND t.org_wide_default <> 'private')
                                   OR EXISTS (SELECT 1 FROM sharing.agreement_permissions a
                                               WHERE a.object_type = p.object_type))));
    END IF;
    IF forget THEN
        PERFORM sharing._forget_plans(c.oid)
           FROM sharing.protected_tables pt
          CROSS JOIN LATERAL sharing._relation_tree(pt.table_name) t
           JOIN pg_catalog.pg_class c ON c.oid = t.relid;
    END IF;
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
    FOREACH t IN ARRAY ARRAY['users', 'user_roles', 'role_permissions', 'role_privileges',
                             'sharing_rules', 'agreements', 'agreement_permissions'] LOOP
        EXECUTE format('CREATE TRIGGER z_log_changes_insert AFTER INSERT ON sharing.%I
                          REFERENCING NEW TABLE AS new_rows
                          FOR EACH STATEMENT EXECUTE FUNCTION sharing._log_changes()', t);
        EXECUTE format('CREATE TRIGGER z_log_changes_update AFTER UPDATE ON sharing.%I
                          REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                          FOR EACH STATEMENT EXECUTE FUNCTION sharing._log_changes()', t);
        EXECUTE format('CREATE TRIGGER z_log_changes_delete AFTER DELETE ON sharing.%I
                          REFERENCING OLD TABLE AS old_rows
                          FOR EACH STATEMENT EXECUTE FUNCTION sharing._log_changes()', t);
        -- Like the generation: a change the log missed would be patched wrong.
        EXECUTE format('ALTER TABLE sharing.%I ENABLE ALWAYS TRIGGER z_log_changes_insert', t);
        EXECUTE format('ALTER TABLE sharing.%I ENABLE ALWAYS TRIGGER z_log_changes_update', t);
        EXECUTE format('ALTER TABLE sharing.%I ENABLE ALWAYS TRIGGER z_log_changes_delete', t);
    END LOOP;
END
$$;

-- pg_sharing: enforcement (docs/concepts.md, "Enforcement") and the agreement views
-- (docs/sql-reference.md, "Views").

CREATE TABLE sharing.protected_tables (
    table_name      regclass PRIMARY KEY,
    object_type     text NOT NULL REFERENCES sharing.object_types (name) ON UPDATE CASCADE,
    owner_column    name NOT NULL,
    company_column  name NOT NULL,
    assignee_column name,
    protected_at    timestamptz NOT NULL DEFAULT now(),
    -- the column that names a record for record shares (NULL: no record shares)
    id_column       name
);
REVOKE ALL ON sharing.protected_tables FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('sharing.protected_tables', '');

-- Always true: the owner-index access path the planner adds next to a viewer's
-- inlined filter (src/backend/planner.rs). Its support function offers a lossy
-- `owner = ANY(sharing._index_owners_current(...))` index condition; the filter decides.
CREATE FUNCTION sharing._owner_hint(object_type text, action text, owner bigint,
                                    planned_viewer bigint) RETURNS bool
LANGUAGE c STABLE PARALLEL SAFE COST 0.01
SUPPORT sharing._access_support
AS 'MODULE_PATHNAME', '_owner_hint';

-- Always true, like _owner_hint: the id (primary key) index beside it for the
-- records shared with the viewer — a lossy `id = ANY(sharing._shared_ids_int8(…))`
-- index condition, so that an owner index scan and the shared records make one
-- BitmapOr (src/backend/planner.rs).
CREATE FUNCTION sharing._id_hint(object_type text, action text, id bigint,
                                 planned_viewer bigint) RETURNS bool
LANGUAGE c STABLE PARALLEL SAFE COST 0.01
SUPPORT sharing._access_support
AS 'MODULE_PATHNAME', '_owner_hint';

-- Always true, like _owner_hint, in a plan made while no record of the type was
-- shared (no _id_hint beside it, docs/design.md "Record shares"): its index
-- condition, `owner = ANY(sharing._index_owners_unshared(...))`, refuses (40001) a
-- viewer with records of the type shared with them rather than miss those records.
CREATE FUNCTION sharing._owner_hint_unshared(object_type text, action text, owner bigint,
                                             planned_viewer bigint) RETURNS bool
LANGUAGE c STABLE PARALLEL SAFE COST 0.01
SUPPORT sharing._access_support
AS 'MODULE_PATHNAME', '_owner_hint';

-- The type of a column (NULL when there is no such column).
CREATE FUNCTION sharing._column_type(tbl regclass, col name) RETURNS regtype
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.atttypid::regtype FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- The policy expression for one action. Identifiers are quoted with %I, literals
-- with %L; the table is a regclass (its text form is quoted and qualified).
-- One call of sharing._policy with the viewer and the company every record of
-- which the viewer may act on (level `all`), each computed once per statement
-- (InitPlans). The planner rewrites the call for the viewer it plans for
-- (src/backend/planner.rs): one company comparison per row for level `all`, an
-- index condition on the owner column for owner-bounded viewers.
-- A `bigint` id column is the call's eighth argument: the planner then plans the
-- records shared with the viewer inside the same rewrite (docs/design.md, "Record
-- shares"), with no sub-select of their own. Then, OR-ed (sharing._extra_arms): the
-- participants of a bigint[] assignee column, and for `integer` and `uuid` ids the
-- records shared with the viewer.
CREATE FUNCTION sharing._policy_expr(tbl regclass, object_type text, action text, owner_column name,
                                     company_column name, assignee_column name, id_column name) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN sharing._citus()
                -- Citus refuses sub-selects in the policies of its tables: the viewer as a
                -- plain call and no all-rows company. The call is the same decision, and
                -- the planner of each shard query rewrites it as above (docs/scaling.md).
                THEN format('sharing._policy(%L::text, %L::text, %I, %I, sharing.current_viewer(), %s, NULL::bigint%s)',
                            object_type, action, owner_column, company_column,
                            sharing._scalar_assignee(tbl, assignee_column),
                            CASE WHEN sharing._id_in_policy(tbl, action, id_column) THEN format(', %I', id_column)
                                 ELSE '' END)
                ELSE format('sharing._policy(%L::text, %L::text, %I, %I, (SELECT sharing.current_viewer()), %s,'
                            ' (SELECT sharing._all_rows_company(%L::text, %L::text, (SELECT sharing.current_viewer())))%s)',
                            object_type, action, owner_column, company_column,
                            sharing._scalar_assignee(tbl, assignee_column), object_type, action,
                            CASE WHEN sharing._id_in_policy(tbl, action, id_column) THEN format(', %I', id_column)
                                 ELSE '' END) END
        || sharing._extra_arms(tbl, object_type, action, owner_column, company_column, assignee_column, id_column)
$$;

-- Whether the policy for `action` passes the id column to the decision itself: a
-- `bigint` id, for the actions shares give (view, edit).
CREATE FUNCTION sharing._id_in_policy(tbl regclass, action text, id_column name) RETURNS bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT id_column IS NOT NULL AND action IN ('view', 'edit')
       AND sharing._column_type(tbl, id_column) = 'bigint'::regtype
$$;

-- The assignee argument of the decision: the column when it holds one user,
-- NULL when there is none or it holds participants (they have their own arm).
CREATE FUNCTION sharing._scalar_assignee(tbl regclass, assignee_column name) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN assignee_column IS NULL
                  OR sharing._column_type(tbl, assignee_column) = 'bigint[]'::regtype THEN 'NULL::bigint'
                ELSE quote_ident(assignee_column) END
$$;

-- The arms OR-ed to a policy's decision: ` OR <participants>` for a bigint[]
-- assignee column, ` OR (<company> = <viewer's company> AND <id> = ANY(<ids shared
-- with the viewer>))` for view and edit when the table has an `integer` or `uuid`
-- id column (a `bigint` id is passed to the decision, see _policy_expr). Each set
-- of ids is computed once per statement (an InitPlan), and the id index can read it.
CREATE FUNCTION sharing._extra_arms(tbl regclass, object_type text, action text, owner_column name,
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
                     AND NOT sharing._id_in_policy(tbl, action, id_column) AND sharing._citus()
                -- The same arm without sub-selects (Citus, see _policy_expr).
                THEN format(' OR (%1$I = sharing._current_company() AND %2$I = ANY (sharing.%3$I(%4$L::text, %5$L::text)::%6$s[]))',
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
                WHEN id_column IS NOT NULL AND action IN ('view', 'edit')
                     AND NOT sharing._id_in_policy(tbl, action, id_column)
                THEN format(' OR (%1$I = (SELECT sharing._current_company())'
                            ' AND %2$I IN (SELECT unnest((SELECT sharing.%3$I(%4$L::text, %5$L::text))::%6$s[]))'
                            ' AND %2$I = ANY ((SELECT sharing.%3$I(%4$L::text, %5$L::text))::%6$s[]))',
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

-- The WITH CHECK expression for one action: the full decision for the statement's
-- viewer, resolved inside the call, and the same extra arms (a `bigint` id column
-- passed to the decision, which then also answers for records shared with the
-- viewer). A check runs on the rows written, never as a scan condition, so it needs
-- none of the planner's shapes, and no sub-select to plan.
CREATE FUNCTION sharing._check_expr(tbl regclass, object_type text, action text, owner_column name,
                                    company_column name, assignee_column name, id_column name) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('sharing._decide_current(%L::text, %L::text, %I, %I, %s%s)',
                  object_type, action, owner_column, company_column,
                  sharing._scalar_assignee(tbl, assignee_column),
                  CASE WHEN sharing._id_in_policy(tbl, action, id_column) THEN format(', %I', id_column)
                       ELSE '' END)
        || sharing._extra_arms(tbl, object_type, action, owner_column, company_column, assignee_column, id_column)
$$;

-- A table and, for a partitioned table, every partition below it (parents first).
CREATE FUNCTION sharing._relation_tree(tbl regclass) RETURNS TABLE (relid regclass)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT tbl
    UNION ALL
    SELECT t.relid FROM pg_partition_tree(tbl) t WHERE t.relid <> tbl
$$;

-- Policies, FORCE row level security and the TRUNCATE guard on one relation.
CREATE FUNCTION sharing._apply_policies(tbl regclass, object_type text, owner_column name,
                                        company_column name, assignee_column name, id_column name) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unsafe text := sharing._citus_allow_triggers(tbl);
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
    -- A superuser's TRUNCATE runs no row trigger: the record shares of the table's
    -- rows go first (after the refusal above, triggers fire by name).
    IF id_column IS NOT NULL THEN
        EXECUTE format('CREATE TRIGGER sharing_truncate_shares BEFORE TRUNCATE ON %s
                        FOR EACH STATEMENT EXECUTE FUNCTION sharing._forget_truncated_shares(%L, %L)',
                       tbl, object_type, id_column);
    END IF;
    -- Transfers (a new owner or company) are checked against the old row. Row
    -- triggers of a partitioned table are cloned to its partitions, present and future.
    -- So are changed assignees (an assignment gives access like a share) and a
    -- changed id (record shares name records by id). A deleted record takes its
    -- record shares with it, so that no share waits for an id to be reused.
    IF NOT (SELECT c.relispartition FROM pg_class c WHERE c.oid = tbl) THEN
        EXECUTE format('CREATE TRIGGER sharing_transfer BEFORE UPDATE ON %s FOR EACH ROW
                        WHEN (OLD.%I IS DISTINCT FROM NEW.%I OR OLD.%I IS DISTINCT FROM NEW.%I%s%s)
                        EXECUTE FUNCTION sharing._transfer_guard(%L, %L, %L, %L, %L)',
                       tbl, owner_column, owner_column, company_column, company_column,
                       CASE WHEN assignee_column IS NULL THEN ''
                            ELSE format(' OR OLD.%I IS DISTINCT FROM NEW.%I', assignee_column, assignee_column) END,
                       CASE WHEN id_column IS NULL THEN ''
                            ELSE format(' OR OLD.%I IS DISTINCT FROM NEW.%I', id_column, id_column) END,
                       object_type, owner_column, company_column, coalesce(assignee_column, ''),
                       coalesce(id_column, ''));
        IF id_column IS NOT NULL THEN
            EXECUTE format('CREATE TRIGGER sharing_forget_shares AFTER DELETE ON %s FOR EACH ROW
                            EXECUTE FUNCTION sharing._forget_record_shares(%L, %L)',
                           tbl, object_type, id_column);
        END IF;
    END IF;
    -- Last: this ALTER TABLE fires the partition event trigger, which then finds
    -- the policies already in place.
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
    PERFORM sharing._citus_restore_triggers(unsafe);
END
$$;

CREATE FUNCTION sharing._drop_policies(tbl regclass) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
DECLARE
    unsafe text := sharing._citus_allow_triggers(tbl);
BEGIN
    EXECUTE format('DROP POLICY IF EXISTS sharing_select ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS sharing_insert ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS sharing_update ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS sharing_delete ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS sharing_no_truncate ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS sharing_truncate_shares ON %s', tbl);
    IF NOT (SELECT c.relispartition FROM pg_class c WHERE c.oid = tbl) THEN
        EXECUTE format('DROP TRIGGER IF EXISTS sharing_transfer ON %s', tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS sharing_forget_shares ON %s', tbl);
    END IF;
    PERFORM sharing._citus_restore_triggers(unsafe);
END
$$;

CREATE FUNCTION sharing._refuse_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'TRUNCATE of %.% is refused: it would bypass pg_sharing''s row level security',
                quote_ident(TG_TABLE_SCHEMA), quote_ident(TG_TABLE_NAME)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'DELETE obeys the policies; a superuser may TRUNCATE';
    END IF;
    RETURN NULL;
END
$$;

-- A transfer: an UPDATE that changes the owner or the company of a protected
-- record; an assignment: one that adds assignees (TG_ARGV: object type, owner
-- column, company column, assignee column or '').
CREATE FUNCTION sharing._transfer_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o jsonb := to_jsonb(OLD);
    n jsonb := to_jsonb(NEW);
BEGIN
    IF (o -> TG_ARGV[1]) IS DISTINCT FROM (n -> TG_ARGV[1]) OR (o -> TG_ARGV[2]) IS DISTINCT FROM (n -> TG_ARGV[2]) THEN
        PERFORM sharing._check_transfer(TG_ARGV[0], (o ->> TG_ARGV[1])::bigint, (o ->> TG_ARGV[2])::bigint,
                                        (n ->> TG_ARGV[1])::bigint, (n ->> TG_ARGV[2])::bigint);
    END IF;
    IF coalesce(TG_ARGV[3], '') <> '' AND (o -> TG_ARGV[3]) IS DISTINCT FROM (n -> TG_ARGV[3]) THEN
        PERFORM sharing._check_assignment(TG_ARGV[0], (o ->> TG_ARGV[1])::bigint, (o ->> TG_ARGV[2])::bigint,
                                          sharing._as_ids(o -> TG_ARGV[3]), sharing._as_ids(n -> TG_ARGV[3]));
    END IF;
    IF coalesce(TG_ARGV[4], '') <> '' AND (o -> TG_ARGV[4]) IS DISTINCT FROM (n -> TG_ARGV[4]) THEN
        PERFORM sharing._renumber_record(TG_ARGV[0], o ->> TG_ARGV[4], n ->> TG_ARGV[4]);
    END IF;
    RETURN NEW;
END
$$;

-- A record's id changes (TG_ARGV of sharing_transfer: the id column): only in a DBA
-- session, and its record shares follow it. For anyone else the id of a protected
-- record is fixed — moving a record onto an id with shares would hand it out.
CREATE FUNCTION sharing._renumber_record(object_type text, old_id text, new_id text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._require_dba(format('change the id of record %s of "%s" to %s', old_id, object_type, new_id));
    IF EXISTS (SELECT 1 FROM sharing.record_shares s
                WHERE s.object_type = _renumber_record.object_type AND s.record_id = old_id) THEN
        PERFORM sharing._refuse_on_citus_worker(object_type, old_id, 'change the id of');
        UPDATE sharing.record_shares s SET record_id = new_id
         WHERE s.object_type = _renumber_record.object_type AND s.record_id = old_id;
    END IF;
END
$$;

-- On a Citus worker (docs/scaling.md), the record shares are the coordinator's
-- copy and a row of a distributed table is deleted or renumbered there: its shares
-- cannot follow it in one node's copy alone, so a shared record keeps its id and is
-- not deleted until its shares are removed on the coordinator.
CREATE FUNCTION sharing._refuse_on_citus_worker(object_type text, record_id text, what text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_trigger g
                WHERE g.tgrelid = 'sharing.record_shares'::regclass AND g.tgname = 'a_citus_worker') THEN
        RAISE EXCEPTION 'cannot % record % of "%": it is shared, and its shares are kept on the Citus coordinator', what, record_id, object_type
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = format('remove its shares first: SELECT sharing.unshare_record(id) FROM sharing.record_shares WHERE object_type = %L AND record_id = %L',
                                object_type, record_id);
    END IF;
END
$$;

-- A deleted record's shares go with it (TG_ARGV: object type, id column).
CREATE FUNCTION sharing._forget_record_shares() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone text := to_jsonb(OLD) ->> TG_ARGV[1];
BEGIN
    -- Only when there are shares: a DELETE of record_shares serializes with the
    -- other share writers (sql/generation.sql), which a plain delete must not.
    IF EXISTS (SELECT 1 FROM sharing.record_shares s WHERE s.object_type = TG_ARGV[0] AND s.record_id = gone) THEN
        PERFORM sharing._refuse_on_citus_worker(TG_ARGV[0], gone, 'delete');
        DELETE FROM sharing.record_shares s WHERE s.object_type = TG_ARGV[0] AND s.record_id = gone;
    END IF;
    -- A REPEATABLE READ transaction does not see a share committed after its
    -- snapshot: that share would outlive the record (40001 instead).
    PERFORM sharing._require_no_unseen_shares(TG_ARGV[0], gone);
    RETURN NULL;
END
$$;

-- Before a (superuser's) TRUNCATE of a protected table: the record shares of its
-- rows, which no row trigger will forget, so that no share waits for an id to be
-- reused (docs/concepts.md, "Record shares").
CREATE FUNCTION sharing._forget_truncated_shares() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM sharing.record_shares s WHERE s.object_type = TG_ARGV[0]) THEN
        EXECUTE format('DELETE FROM sharing.record_shares s WHERE s.object_type = %L
                          AND s.record_id IN (SELECT r.%I::text FROM %s r)',
                       TG_ARGV[0], TG_ARGV[1], TG_RELID::regclass);
    END IF;
    RETURN NULL;
END
$$;

-- An assignee value as ids: one id, or the ids of a participants array.
CREATE FUNCTION sharing._as_ids(v jsonb) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE jsonb_typeof(v)
               WHEN 'array' THEN ARRAY(SELECT x::bigint FROM jsonb_array_elements_text(v) x WHERE x IS NOT NULL)
               WHEN 'number' THEN ARRAY[(v #>> '{}')::bigint]
               ELSE ARRAY[]::bigint[] END
$$;

-- A table dropped while protected leaves the registry (and can no longer be
-- named by a record share).
CREATE FUNCTION sharing._forget_dropped_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone oid[] := ARRAY(SELECT p.table_name::oid FROM sharing.protected_tables p
                         JOIN pg_event_trigger_dropped_objects() d
                           ON d.classid = 'pg_class'::regclass AND d.objsubid = 0
                          AND d.objid = p.table_name::oid);
BEGIN
    -- Written only when a protected table went: every other drop (a policy, an
    -- index, a Citus shard) leaves the registry unlocked, so the transaction may
    -- still be prepared (docs/security.md, PREPARE TRANSACTION).
    IF cardinality(gone) > 0 THEN
        DELETE FROM sharing.protected_tables p WHERE p.table_name::oid = ANY (gone);
    END IF;
END
$$;
CREATE EVENT TRIGGER sharing_forget_dropped_tables ON sql_drop
    EXECUTE FUNCTION sharing._forget_dropped_tables();

-- The registry of protected tables is internal (not writable by anyone but the
-- extension): protect() and unprotect() change it through these two functions,
-- which require the caller to own the table.
CREATE FUNCTION sharing._require_table_owner(tbl regclass) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT coalesce(pg_has_role(sharing._asking_role()::name, (SELECT c.relowner FROM pg_class c WHERE c.oid = tbl), 'USAGE'), false) THEN
        RAISE EXCEPTION 'role "%" does not own table %', sharing._asking_role(), tbl
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'only the owner of a table (or a member of its owning role) may protect or unprotect it';
    END IF;
END
$$;

CREATE FUNCTION sharing._register_protected(tbl regclass, object_type text, owner_column name,
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

CREATE FUNCTION sharing._unregister_protected(tbl regclass) RETURNS bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._require_table_owner(tbl);
    DELETE FROM sharing.protected_tables p WHERE p.table_name = tbl;
    RETURN FOUND;
END
$$;

-- A partition created or attached later under a protected table gets its policies.
CREATE FUNCTION sharing._protect_new_partitions() RETURNS event_trigger
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
CREATE EVENT TRIGGER sharing_protect_new_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION sharing._protect_new_partitions();

-- Protect a table: register it, create the object type if missing, enable and
-- FORCE row level security, one policy per command. The assignee column holds one
-- user (an integer) or participants (bigint[]); the id column (bigint, integer or
-- uuid) names records for record shares — a table without the default `id` column
-- is protected without them (NOTICE), as with id_column => NULL.
CREATE FUNCTION sharing.protect(tbl regclass, object_type text,
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
    IF (SELECT c.relpersistence FROM pg_class c WHERE c.oid = tbl) = 't' THEN
        RAISE EXCEPTION '% is a temporary table: pg_sharing protects permanent tables only', tbl
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'a temporary table is private to its session already';
    END IF;
    -- The records of an object type are named by their ids (record shares): a second
    -- table under a type is a global decision, as creating a type is.
    IF EXISTS (SELECT 1 FROM sharing.protected_tables p JOIN pg_class c ON c.oid = p.table_name::oid
                WHERE p.object_type = protect.object_type AND p.table_name <> tbl
                  AND NOT c.relispartition) THEN
        PERFORM sharing._require_dba(format('protect %s as "%s", which another table already is', tbl, object_type));
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

CREATE FUNCTION sharing._disable_rls(tbl regclass) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY', tbl);
END
$$;

-- Undo protect(): drop the policies, disable row level security, unregister.
CREATE FUNCTION sharing.unprotect(tbl regclass) RETURNS void
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

-- The viewer's company, or NULL without a viewer (the views below then show nothing).
CREATE FUNCTION sharing._viewer_company() RETURNS bigint
LANGUAGE sql STABLE PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT u.company_id FROM sharing.users u WHERE u.id = sharing.current_viewer() $$;

-- The agreements the reader's company is a party to (every agreement in a DBA
-- session), with both companies' names. A security barrier: the filter runs before
-- any function of the reader's WHERE clause.
CREATE VIEW sharing._agreements_with_permissions WITH (security_barrier = true) AS
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

-- Agreements in which the viewer's company shares its data ("Shared by you").
-- security_barrier: a leaky function in the reader's WHERE runs only on the rows
-- the viewer may see (docs/security.md).
CREATE VIEW sharing.shared_by_you WITH (security_barrier = true) AS
SELECT * FROM sharing._agreements_with_permissions
 WHERE grantor_company = (SELECT sharing._viewer_company());

-- Agreements in which other companies share their data with the viewer's ("Shared with you").
CREATE VIEW sharing.shared_with_you WITH (security_barrier = true) AS
SELECT * FROM sharing._agreements_with_permissions
 WHERE grantee_company = (SELECT sharing._viewer_company());

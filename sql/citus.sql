-- pg_sharing on a Citus cluster (docs/scaling.md, "Citus").
--
-- The configuration tables stay ordinary tables on every node: Citus refuses them as
-- reference tables (they have triggers and policies with sub-selects), and every
-- trigger of theirs would run once per placement. The coordinator's copy is the one
-- written; sharing.distribute_configuration() makes it carry each change, in the same
-- distributed transaction, to the copies on the workers: a statement trigger on each
-- configuration table of the coordinator writes the rows the statement changed into
-- the reference table sharing._citus_changes, and a row trigger on that table's
-- placements applies them to the node's own copy — as logical replication would, with
-- session_replication_role = replica (the no-escalation guards judged the change on
-- the coordinator; the generation and change-log triggers are ENABLE ALWAYS, so each
-- worker's generation moves with the change, and then takes the coordinator's number:
-- every node keys its compiled model by the same generation). The row is not kept
-- (the trigger returns NULL): the reference table stays empty.

-- Whether Citus is installed in this database.
CREATE FUNCTION sharing._citus() RETURNS bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = 'citus') $$;

-- Whether `tbl` is a Citus table (distributed or reference); false without Citus.
CREATE FUNCTION sharing._is_citus_table(tbl regclass) RETURNS bool
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found bool;
BEGIN
    IF NOT sharing._citus() THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1)'
       INTO found USING tbl;
    RETURN found;
END
$$;

-- Before triggers of a Citus table are created or dropped (Citus refuses them
-- unless citus.enable_unsafe_triggers is on): turns the setting on for the
-- transaction and returns the value to restore, NULL for any other table.
CREATE FUNCTION sharing._citus_allow_triggers(tbl regclass) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unsafe text;
BEGIN
    IF NOT sharing._is_citus_table(tbl) THEN
        RETURN NULL;
    END IF;
    unsafe := current_setting('citus.enable_unsafe_triggers');
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    RETURN unsafe;
END
$$;

CREATE FUNCTION sharing._citus_restore_triggers(unsafe text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF unsafe IS NOT NULL THEN
        PERFORM set_config('citus.enable_unsafe_triggers', unsafe, true);
    END IF;
END
$$;

-- The configuration tables a worker needs to decide, in the order a full copy
-- writes them.
CREATE FUNCTION sharing._citus_config_tables() RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY['companies', 'object_types', 'users', 'roles', 'user_roles', 'role_permissions',
                 'role_privileges', 'sharing_rules', 'agreements', 'agreement_permissions',
                 'trusted_app_roles', 'record_shares', 'protected_tables']
$$;

-- The key that signs the changes sent to the workers (one row, the same on every
-- node, written by distribute_configuration()) and the last change in this node's
-- copy: on the coordinator the last one signed, on a worker the last one applied.
-- Row level security with no policy: a role granted SELECT on every table of the
-- schema (docs/security.md) still reads no row; the extension's functions (the
-- owner) and superusers do.
CREATE TABLE sharing._citus_key (
    singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
    key       bytea NOT NULL,
    applied   bigint NOT NULL DEFAULT 0
);
REVOKE ALL ON sharing._citus_key FROM PUBLIC;
ALTER TABLE sharing._citus_key ENABLE ROW LEVEL SECURITY;
-- Numbers changes on the coordinator: never one twice, even across a rollback.
CREATE SEQUENCE sharing._citus_seq;
REVOKE ALL ON SEQUENCE sharing._citus_seq FROM PUBLIC;
-- On a worker, the highest number of a change it has been sent, committed or not:
-- a sequence, so that a rollback does not take it back.
CREATE SEQUENCE sharing._citus_seen MINVALUE 0 START 0;
REVOKE ALL ON SEQUENCE sharing._citus_seen FROM PUBLIC;

-- Changes signed by a statement's trigger and not yet sent (_citus_record then
-- _citus_send); read by the extension only.
CREATE TABLE sharing._citus_pending (
    xact     xid8 NOT NULL,
    seq      bigint NOT NULL,
    prev     bigint NOT NULL,
    gen      bigint NOT NULL,
    tbl      text NOT NULL,
    op       "char" NOT NULL,
    old_rows jsonb,
    new_rows jsonb,
    mac      bytea NOT NULL
);
REVOKE ALL ON sharing._citus_pending FROM PUBLIC;
ALTER TABLE sharing._citus_pending ENABLE ROW LEVEL SECURITY;

-- The changes this transaction signed and has not yet sent through the coordinator's
-- own placement of sharing._citus_changes (whose apply trigger crosses them off): at
-- commit none may be left (_citus_flush), and a change the coordinator's placement
-- receives must be one of them — a change signed in another transaction is refused
-- by the coordinator, and so by the whole distributed statement.
CREATE TABLE sharing._citus_unsent (
    xact xid8 NOT NULL,
    seq  bigint NOT NULL,
    mac  bytea NOT NULL
);
REVOKE ALL ON sharing._citus_unsent FROM PUBLIC;
ALTER TABLE sharing._citus_unsent ENABLE ROW LEVEL SECURITY;

-- The signature of one change: its number, the number of the change before it in
-- the coordinator's copy, the coordinator's generation, and what it changes.
CREATE FUNCTION sharing._citus_mac(key bytea, seq bigint, prev bigint, gen bigint, tbl text, op "char", old_rows jsonb, new_rows jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT sha256(key || sha256(key || convert_to(concat_ws(E'\x1f', seq::text, prev::text, gen::text, tbl, op::text,
                                                            coalesce(old_rows::text, ''), coalesce(new_rows::text, '')), 'UTF8')))
$$;
REVOKE ALL ON FUNCTION sharing._citus_mac(bytea, bigint, bigint, bigint, text, "char", jsonb, jsonb) FROM PUBLIC;

-- Number and sign a change of the coordinator's copy, chained to the change before
-- it: `prev` is the number of the last change signed, read and replaced under the
-- key's row lock in this transaction (so it rolls back with it), and a worker
-- applies a change only on top of exactly that one. A change signed in a
-- transaction that rolled back, sent again later, is refused once any other change
-- came after it. SECURITY INVOKER on purpose: only the extension's own trigger
-- (_citus_record, running as the owner) and a superuser (distribute_configuration)
-- read the key and move the number — anyone else finds no key (row level security)
-- and may not write the row (its a_internal_guard).
CREATE FUNCTION sharing._citus_sign(tbl text, op "char", old_rows jsonb, new_rows jsonb,
                                    OUT seq bigint, OUT prev bigint, OUT gen bigint, OUT mac bytea)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k bytea;
BEGIN
    SELECT c.key, c.applied INTO k, prev FROM sharing._citus_key c FOR UPDATE;
    IF k IS NULL THEN
        RAISE EXCEPTION 'the configuration is not distributed: no key to sign a change of sharing.% with', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'a superuser runs sharing.distribute_configuration() on the coordinator';
    END IF;
    seq := nextval('sharing._citus_seq');
    UPDATE sharing._citus_key SET applied = seq;
    gen := (SELECT g.gen FROM sharing._generation g);
    mac := sharing._citus_mac(k, seq, prev, gen, tbl, op, old_rows, new_rows);
    INSERT INTO sharing._citus_unsent (xact, seq, mac) VALUES (pg_current_xact_id(), seq, mac);
END
$$;

-- The primary key columns of a configuration table, quoted and comma-separated.
CREATE FUNCTION sharing._citus_primary_key(tbl text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
      FROM pg_index i
     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = format('sharing.%I', tbl)::regclass AND i.indisprimary
$$;

-- Statement trigger on a configuration table of the coordinator, first of two: the
-- rows the statement changed, from its transition tables, signed, set aside for
-- _citus_capture. SECURITY DEFINER: it reads the key; what it signs is what the
-- statement did, never what a caller says.
CREATE FUNCTION sharing._citus_record() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone jsonb;
    came jsonb;
    op "char" := left(TG_OP, 1);
    signed record;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT jsonb_agg(to_jsonb(o)) INTO gone FROM old_rows o;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        SELECT jsonb_agg(to_jsonb(n)) INTO came FROM new_rows n;
    END IF;
    IF TG_OP = 'TRUNCATE' OR gone IS NOT NULL OR came IS NOT NULL THEN
        signed := sharing._citus_sign(TG_TABLE_NAME, op, gone, came);
        INSERT INTO sharing._citus_pending (xact, seq, prev, gen, tbl, op, old_rows, new_rows, mac)
        VALUES (pg_current_xact_id(), signed.seq, signed.prev, signed.gen, TG_TABLE_NAME, op, gone, came, signed.mac);
    END IF;
    RETURN NULL;
END
$$;

-- They are sent by sharing._citus_send() (Rust, src/backend/citus.rs): taken from
-- _citus_pending as the extension and inserted into _citus_changes as the session's
-- own role — Citus talks to the workers over one connection per role, and the
-- session's next statements must see the change there — without ever being handed
-- to SQL, so no caller can keep a signed change to send it later or elsewhere.
-- Inside a SECURITY DEFINER function (the current role is not the session's: a
-- trigger of the extension writing another configuration table, say) nothing is
-- sent: the changes wait for the session's next configuration statement or its
-- commit (_citus_flush).

-- Statement trigger on a configuration table of the coordinator, second of two:
-- sends what the statement (and any nested one) signed. SECURITY INVOKER (see
-- _citus_send).
CREATE FUNCTION sharing._citus_capture() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sharing._citus_send();
    RETURN NULL;
END
$$;

-- The lowest number this transaction signed and has not sent, or NULL.
CREATE FUNCTION sharing._citus_unsent_left() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT min(u.seq) FROM sharing._citus_unsent u WHERE u.xact = pg_current_xact_id()
$$;

-- At commit (a deferred constraint trigger on _citus_unsent): whatever is still
-- pending goes now, as the session's role, and then every change this transaction
-- signed must have been sent. A change is never committed on the coordinator alone:
-- one whose sending was kept from happening, or that cannot be
-- sent (constraints made IMMEDIATE) makes the transaction fail.
CREATE FUNCTION sharing._citus_flush() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    left_over bigint;
BEGIN
    PERFORM sharing._citus_send();
    left_over := sharing._citus_unsent_left();
    IF left_over IS NOT NULL THEN
        RAISE EXCEPTION 'configuration change % was signed but not sent to the workers', left_over
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'a change is sent by the statement that made it, by the session''s next configuration statement, or at commit; leave the constraint triggers of sharing._citus_unsent deferred';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER zz_citus_flush AFTER INSERT ON sharing._citus_unsent
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sharing._citus_flush();

-- Row trigger on the placements of sharing._citus_changes: check the signature and
-- that the change comes right after the last one this node applied, and apply it
-- to this node's copy, unless this node made it. Then this node's generation is the coordinator's (NEW.gen): the statements the
-- change ran here moved it with numbers of this node's sequence, and the change log
-- rows they wrote are moved to that generation with it, so a backend here patches
-- its model from the log as on the coordinator. Only a number that moves forward is
-- taken (a worker's copy written some other way may have run ahead: it then goes on
-- one past its own, docs/scaling.md). Returns NULL: the row is not stored.
CREATE FUNCTION sharing._citus_apply() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET session_replication_role = replica
AS $$
DECLARE
    here int;
    k bytea;
    keys text;
    before_gen bigint;
    before_xmin xid;
    target bigint;
BEGIN
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO here;
    -- Changes are made and signed on the coordinator (group 0) only.
    IF NEW.origin <> 0 THEN
        RAISE EXCEPTION 'refused a configuration change for sharing.% from node group %', NEW.tbl, NEW.origin
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'changes reach the workers only from the coordinator''s triggers';
    END IF;
    IF here = 0 THEN
        -- The coordinator's placement: only a change this transaction signed, once.
        DELETE FROM sharing._citus_unsent u
         WHERE u.xact = pg_current_xact_id() AND u.seq = NEW.seq AND u.mac = NEW.mac;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'refused configuration change % for sharing.%: it was not signed in this transaction', NEW.seq, NEW.tbl
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'changes reach the workers only from the coordinator''s triggers';
        END IF;
        RETURN NULL;
    END IF;
    SELECT c.key INTO k FROM sharing._citus_key c;
    IF k IS NULL OR NEW.mac IS DISTINCT FROM sharing._citus_mac(k, NEW.seq, NEW.prev, NEW.gen, NEW.tbl,
                                                                NEW.op, NEW.old_rows, NEW.new_rows)
       OR NOT NEW.tbl = ANY (sharing._citus_config_tables()) THEN
        RAISE EXCEPTION 'refused a configuration change for sharing.% with a wrong signature', NEW.tbl
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'changes are signed by the coordinator; sharing.distribute_configuration() gives every node the key';
    END IF;
    -- Right after the last change applied here, under its row lock: a change sent
    -- twice, or one sent again after any other change, is refused.
    UPDATE sharing._citus_key c SET applied = NEW.seq WHERE c.applied = NEW.prev;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'refused configuration change % for sharing.%: it follows change %, and this node''s copy is at another one',
                        NEW.seq, NEW.tbl, NEW.prev
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'changes reach the workers only from the coordinator''s triggers; a superuser''s sharing.distribute_configuration() copies the whole configuration again';
    END IF;
    -- And never one this node was sent before, even in a transaction that rolled
    -- back: its text (signature included) may have been seen in pg_stat_activity.
    IF NEW.seq <= (SELECT s.last_value FROM sharing._citus_seen s) THEN
        RAISE EXCEPTION 'refused configuration change % for sharing.%: this node was sent it before', NEW.seq, NEW.tbl
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'changes reach the workers only from the coordinator''s triggers';
    END IF;
    PERFORM pg_catalog.setval('sharing._citus_seen', NEW.seq);
    -- This transaction may now be prepared by Citus's two-phase commit although it
    -- writes the configuration (src/backend/prepare.rs).
    PERFORM sharing._citus_applied();
    SELECT g.gen, g.xmin INTO before_gen, before_xmin FROM sharing._generation g;
    -- A protected table that is not a Citus table exists on the coordinator only.
    IF NEW.tbl = 'protected_tables' THEN
        NEW.old_rows := (SELECT jsonb_agg(e) FROM jsonb_array_elements(NEW.old_rows) e
                          WHERE to_regclass(e ->> 'table_name') IS NOT NULL);
        NEW.new_rows := (SELECT jsonb_agg(e) FROM jsonb_array_elements(NEW.new_rows) e
                          WHERE to_regclass(e ->> 'table_name') IS NOT NULL);
    END IF;
    keys := sharing._citus_primary_key(NEW.tbl);
    IF NEW.op IN ('T', 'S') THEN
        EXECUTE format('DELETE FROM sharing.%I', NEW.tbl);
    ELSIF NEW.old_rows IS NOT NULL THEN
        EXECUTE format('DELETE FROM sharing.%1$I x WHERE (%2$s) IN (SELECT %2$s FROM jsonb_populate_recordset(NULL::sharing.%1$I, $1))',
                       NEW.tbl, keys)
          USING NEW.old_rows;
    END IF;
    IF NEW.new_rows IS NOT NULL THEN
        EXECUTE format('INSERT INTO sharing.%1$I OVERRIDING SYSTEM VALUE SELECT * FROM jsonb_populate_recordset(NULL::sharing.%1$I, $1)',
                       NEW.tbl)
          USING NEW.new_rows;
    END IF;
    -- The coordinator's number, if it moves forward: past the number before, or
    -- equal to it when this transaction wrote that number (several changes of one
    -- coordinator statement, or a whole copy) or when the change moved no generation
    -- here either (a table without one: protected_tables, record_shares).
    target := CASE WHEN NEW.gen > before_gen
                     OR (NEW.gen = before_gen AND before_xmin = pg_catalog.pg_current_xact_id()::xid)
                     OR (NEW.gen = before_gen AND NOT EXISTS (SELECT 1 FROM sharing._changes c WHERE c.gen > before_gen))
                   THEN NEW.gen
                   ELSE before_gen + 1 END;
    IF NOT EXISTS (SELECT 1 FROM sharing._changes c WHERE c.gen > before_gen) AND target <> before_gen THEN
        -- Nothing here moved (no row of this node changed): the generation still does.
        INSERT INTO sharing._changes (gen, tbl, op) VALUES (target, NEW.tbl, 'B'), (target, NEW.tbl, 'E');
    END IF;
    UPDATE sharing._changes c SET gen = target WHERE c.gen > before_gen;
    UPDATE sharing._generation SET gen = target;
    PERFORM pg_catalog.setval('sharing._generation_seq', target);
    RETURN NULL;
END
$$;

-- On a worker, the configuration is the coordinator's copy: written only by
-- _citus_apply (under session_replication_role = replica, where this trigger does
-- not fire). Citus sends some statements to the workers as the client wrote them
-- (a SET LOCAL with others in the same string): a configuration change in such a
-- string must not change one worker's copy alone.
CREATE FUNCTION sharing._citus_refuse_write() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '% on sharing.% is refused on a Citus worker: the configuration is written on the coordinator', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'read_only_sql_transaction',
              HINT = 'connect to the coordinator; send SET LOCAL sharing.viewer as a statement of its own';
END
$$;

-- Run on each worker by distribute_configuration(): the configuration tables take
-- writes from _citus_apply only.
CREATE FUNCTION sharing._citus_become_worker() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    -- Not protected_tables: internal already (its a_internal_guard), and the event
    -- trigger that forgets dropped tables writes it when Citus drops a shard here.
    -- No DROP TRIGGER: that too would fire the event trigger.
    FOREACH t IN ARRAY array_remove(sharing._citus_config_tables(), 'protected_tables') LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger g
                        WHERE g.tgrelid = format('sharing.%I', t)::regclass AND g.tgname = 'a_citus_worker') THEN
            EXECUTE format('CREATE TRIGGER a_citus_worker BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON sharing.%I
                                FOR EACH STATEMENT EXECUTE FUNCTION sharing._citus_refuse_write()', t);
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION sharing._citus_become_worker() FROM PUBLIC;

-- Make the configuration reach every node of a Citus cluster (see the top of this
-- file). Idempotent: each call gives every worker the coordinator's key (a worker
-- added since needs it) and copies the whole configuration to the workers again.
-- Only on the coordinator, by a superuser.
CREATE FUNCTION sharing.distribute_configuration() RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
DECLARE
    t text;
    here int;
    rows jsonb;
    unsafe text;
    k bytea;
    failed text;
    signed record;
    top bigint;
    g bigint;
    head bigint;
    ev text;
BEGIN
    IF NOT sharing._citus() THEN
        RAISE EXCEPTION 'sharing.distribute_configuration() needs Citus: the extension citus is not installed in database "%"', current_database()
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'CREATE EXTENSION citus on every node first (docs/scaling.md)';
    END IF;
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'role "%" may not distribute the configuration', current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'a superuser runs sharing.distribute_configuration() on the coordinator';
    END IF;
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO here;
    IF here <> 0 THEN
        RAISE EXCEPTION 'sharing.distribute_configuration() runs on the coordinator, and this node is a worker (group %)', here
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'connect to the coordinator';
    END IF;
    -- A change reaches the workers through the coordinator's own placement of
    -- _citus_changes, which checks it was signed in the transaction (_citus_apply).
    IF NOT EXISTS (SELECT 1 FROM pg_dist_node n WHERE n.groupid = 0) THEN
        RAISE EXCEPTION 'the coordinator is not in the cluster''s metadata: sharing.distribute_configuration() needs it to hold reference tables'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT citus_set_coordinator_host(''<its host>'', <its port>) first (docs/scaling.md)';
    END IF;
    -- Grants made before this extension kept its internal tables read-only.
    PERFORM sharing._revoke_internal_writes();
    -- The key: 244 random bits (two version-4 UUIDs), made once.
    IF NOT EXISTS (SELECT 1 FROM sharing._citus_key) THEN
        k := decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
        INSERT INTO sharing._citus_key (key) VALUES (k) ON CONFLICT DO NOTHING;
    END IF;
    -- Under its row lock until the end: no change is signed meanwhile.
    SELECT c.key, c.applied INTO k, head FROM sharing._citus_key c FOR UPDATE;
    -- Each worker gets the key, and its copy is set at the coordinator's last change
    -- (the copy below replaces it whole), over a connection of its own (committed
    -- there at once; a worker whose key or number differs refuses every change, so a
    -- retry repairs a failure). One statement per command: of several,
    -- run_command_on_workers reports the first one's result, and a later failure
    -- rolls the first back unreported.
    FOREACH t IN ARRAY ARRAY[format('INSERT INTO sharing._citus_key (key, applied) VALUES (%L::bytea, %s)
                                     ON CONFLICT (singleton) DO UPDATE SET key = EXCLUDED.key, applied = EXCLUDED.applied', k, head),
                             'SELECT sharing._citus_become_worker()'] LOOP
        EXECUTE format($cmd$SELECT string_agg(format('%%s:%%s: %%s', nodename, nodeport, result), '; ')
                             FROM run_command_on_workers(%L) WHERE NOT success$cmd$, t)
           INTO failed;
        IF failed IS NOT NULL THEN
            RAISE EXCEPTION 'could not prepare the workers: %', failed
                USING ERRCODE = 'connection_failure';
        END IF;
    END LOOP;
    -- Each worker holds the key now (read back: a command can report success and
    -- leave nothing behind).
    EXECUTE format($cmd$SELECT string_agg(format('%%s:%%s', nodename, nodeport), ', ')
                         FROM run_command_on_workers(%L) WHERE result IS DISTINCT FROM 't'$cmd$,
                   format('SELECT EXISTS (SELECT 1 FROM sharing._citus_key WHERE key = %L::bytea AND applied = %s)', k, head))
       INTO failed;
    IF failed IS NOT NULL THEN
        RAISE EXCEPTION 'could not give the key to the workers %', failed
            USING ERRCODE = 'connection_failure';
    END IF;
    -- Each change gives the workers the coordinator's generation (_citus_apply), and
    -- a worker's only moves forward: the coordinator's moves past every worker's
    -- first (a worker installed before it, or one that ran ahead).
    EXECUTE $cmd$SELECT max(result::bigint) FROM run_command_on_workers('SELECT gen FROM sharing._generation') WHERE success$cmd$
       INTO top;
    IF top >= (SELECT x.gen FROM sharing._generation x) THEN
        PERFORM setval('sharing._generation_seq', greatest(top, (SELECT s.last_value FROM sharing._generation_seq s)));
        UPDATE sharing._generation SET gen = nextval('sharing._generation_seq') RETURNING gen INTO g;
        INSERT INTO sharing._changes (gen, tbl, op) VALUES (g, '_generation', 'B'), (g, '_generation', 'E');
    END IF;
    IF to_regclass('sharing._citus_changes') IS NULL THEN
        CREATE TABLE sharing._citus_changes (
            origin   int NOT NULL,
            seq      bigint NOT NULL,
            prev     bigint NOT NULL,
            gen      bigint NOT NULL,
            tbl      text NOT NULL,
            op       "char" NOT NULL,
            old_rows jsonb,
            new_rows jsonb,
            mac      bytea NOT NULL
        );
        -- Anyone who changes the configuration writes here (_citus_capture), but
        -- only what the coordinator's trigger signed is applied (_citus_apply).
        REVOKE ALL ON sharing._citus_changes FROM PUBLIC;
        GRANT INSERT ON sharing._citus_changes TO PUBLIC;
        unsafe := current_setting('citus.enable_unsafe_triggers');
        PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
        CREATE TRIGGER apply BEFORE INSERT ON sharing._citus_changes
            FOR EACH ROW EXECUTE FUNCTION sharing._citus_apply();
        PERFORM create_reference_table('sharing._citus_changes');
        PERFORM set_config('citus.enable_unsafe_triggers', unsafe, true);
    END IF;
    FOREACH t IN ARRAY sharing._citus_config_tables() LOOP
        -- Per event, two statement triggers, fired in name order after every other
        -- (the no-escalation check by effect, z_effect, first: a refused change is
        -- never signed): zz_citus_a_* signs what the statement changed,
        -- zz_citus_b_* sends it.
        FOREACH ev IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS %3$I ON sharing.%1$I;
                            DROP TRIGGER IF EXISTS %4$I ON sharing.%1$I;
                            CREATE TRIGGER %3$I AFTER %5$s ON sharing.%1$I %6$s
                                FOR EACH STATEMENT EXECUTE FUNCTION sharing._citus_record();
                            CREATE TRIGGER %4$I AFTER %5$s ON sharing.%1$I
                                FOR EACH STATEMENT EXECUTE FUNCTION sharing._citus_capture(%2$L);
                            ALTER TABLE sharing.%1$I ENABLE ALWAYS TRIGGER %3$I;
                            ALTER TABLE sharing.%1$I ENABLE ALWAYS TRIGGER %4$I;',
                           t, here, 'zz_citus_a_' || ev, 'zz_citus_b_' || ev, upper(ev),
                           CASE ev WHEN 'insert' THEN 'REFERENCING NEW TABLE AS new_rows'
                                   WHEN 'update' THEN 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                                   WHEN 'delete' THEN 'REFERENCING OLD TABLE AS old_rows'
                                   ELSE '' END);
        END LOOP;
        -- The whole table, replacing the worker's copy.
        EXECUTE format('SELECT jsonb_agg(to_jsonb(x)) FROM sharing.%I x', t) INTO rows;
        signed := sharing._citus_sign(t, 'S', NULL, rows);
        INSERT INTO sharing._citus_changes (origin, seq, prev, gen, tbl, op, new_rows, mac)
        VALUES (here, signed.seq, signed.prev, signed.gen, t, 'S', rows, signed.mac);
    END LOOP;
END
$$;

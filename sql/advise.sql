-- pg_sharing: sharing.advise() (docs/sql-reference.md, "Advice"), a health check of
-- the configuration and of the protected tables. Each row names what to look at and
-- what to do about it; nothing is changed.
--
-- Who reads what (sharing._advise_scope, src/backend/authority.rs): a DBA session (or
-- a superuser viewer) every company's advice and the table checks; a viewer holding
-- admin, manage_roles or manage_sharing their own company's advice (the skew of
-- their own users' records included); anyone else 42501. SECURITY DEFINER: it reads
-- the planner statistics (pg_stats shows a column only to who may select it) and the
-- configuration without row level security, so every query below filters by the
-- scope itself.
--
-- Rows come ordered by severity (warning, notice, info), then code, then subject.

CREATE FUNCTION sharing.advise()
RETURNS TABLE (severity text, code text, subject text, detail text, hint text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Catalog queries over set-returning functions are estimated high; compiling them
-- (JIT) costs far more than running them.
SET jit = off
AS $$
DECLARE
    v_scope     bigint;          -- NULL: every company (a DBA); else the viewer's company
    v_dba       bool;
    v_threshold bigint;
    t           record;
    r           record;
    st          record;
    v_n         bigint;
    v_rows      double precision;
    v_found     bool;
BEGIN
    v_scope := sharing._advise_scope();   -- refuses (42501) who may not ask
    v_dba := v_scope IS NULL;
    -- Read after the call above, which loads the library that defines the setting.
    v_threshold := pg_catalog.current_setting('sharing.skew_threshold')::bigint;

    ------------------------------------------------------------------ warnings
    -- A disabled user whose login is still mapped (users.db_role, a DBA's setting).
    IF v_dba THEN
        FOR r IN SELECT u.id, u.name, u.db_role FROM sharing.users u
                  WHERE u.status = 'disabled' AND u.db_role IS NOT NULL ORDER BY u.id LOOP
            severity := 'warning'; code := 'disabled_user_mapped';
            subject := pg_catalog.format('user %s%s', r.id, CASE WHEN r.name IS NOT NULL THEN pg_catalog.format(' "%s"', r.name) ELSE '' END);
            detail := pg_catalog.format('the user is disabled, but login role %I still acts as them through sharing.users.db_role: it sees nothing, yet it can still connect', r.db_role);
            hint := pg_catalog.format('UPDATE sharing.users SET db_role = NULL WHERE id = %s; then ALTER ROLE %I NOLOGIN (or DROP ROLE) unless someone else uses it', r.id, r.db_role);
            RETURN NEXT;
        END LOOP;
    END IF;

    -- A role hierarchy deeper than 10 levels: the deepest role of each company.
    FOR r IN
        WITH RECURSIVE tree AS (
            SELECT x.id, x.company_id, 1 AS depth FROM sharing.roles x
             WHERE (v_scope IS NULL OR x.company_id = v_scope)
               AND NOT EXISTS (SELECT 1 FROM sharing.roles p
                                WHERE p.id = x.reports_to AND p.company_id = x.company_id)
            UNION ALL
            SELECT c.id, c.company_id, tree.depth + 1 FROM tree
              JOIN sharing.roles c ON c.reports_to = tree.id AND c.company_id = tree.company_id
             WHERE tree.depth < 100000    -- the triggers forbid cycles; this bounds one anyway
        )
        SELECT DISTINCT ON (tree.company_id) tree.id, tree.depth, x.name, co.name AS company
          FROM tree JOIN sharing.roles x ON x.id = tree.id JOIN sharing.companies co ON co.id = tree.company_id
         WHERE tree.depth > 10
         ORDER BY tree.company_id, tree.depth DESC, tree.id
    LOOP
        severity := 'warning'; code := 'hierarchy_too_deep';
        subject := pg_catalog.format('role %s "%s" (%s)', r.id, r.name, r.company);
        detail := pg_catalog.format('the role hierarchy of %s is %s levels deep down to this role (%s); more than 10 levels are hard to reason about and to keep right',
            r.company, r.depth,
            (WITH RECURSIVE up AS (
                 SELECT x.id, x.name, x.reports_to, 1 AS k FROM sharing.roles x WHERE x.id = r.id
                 UNION ALL
                 SELECT p.id, p.name, p.reports_to, up.k + 1 FROM up JOIN sharing.roles p ON p.id = up.reports_to
                  WHERE up.k < r.depth)
             SELECT pg_catalog.string_agg(pg_catalog.format('"%s"', up.name), ' > ' ORDER BY up.k DESC) FROM up));
        hint := 'flatten it to at most 10 levels (Salesforce''s guidance): roles are for who sees whose records; for titles, departments or reporting lines that do not decide visibility use users.department or the application';
        RETURN NEXT;
    END LOOP;

    -- A protected table (each table that holds rows) without a btree index led by its
    -- owner column: the owner-bounded viewers' access path (docs/scaling.md).
    IF v_dba THEN
        FOR r IN
            SELECT leaf.relid AS rel, p.owner_column
              FROM sharing.protected_tables p
             CROSS JOIN LATERAL sharing._relation_tree(p.table_name) leaf
              JOIN pg_catalog.pg_class c ON c.oid = leaf.relid
             WHERE c.relkind = 'r'
               AND NOT EXISTS (
                   SELECT 1 FROM pg_catalog.pg_index i
                     JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                     JOIN pg_catalog.pg_am am ON am.oid = ic.relam
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = leaf.relid AND a.attname = p.owner_column
                    WHERE i.indrelid = leaf.relid AND am.amname = 'btree' AND i.indisvalid
                      AND i.indpred IS NULL AND i.indkey[0] = a.attnum)
             ORDER BY leaf.relid::text
        LOOP
            severity := 'warning'; code := 'owner_index_missing';
            subject := pg_catalog.format('table %s', r.rel);
            detail := pg_catalog.format('no valid btree index of %s starts with its owner column %I: a viewer who reaches a few owners reads the whole table', r.rel, r.owner_column);
            hint := pg_catalog.format('CREATE INDEX CONCURRENTLY ON %s (%I)', r.rel, r.owner_column);
            RETURN NEXT;
        END LOOP;
    END IF;

    -- Ownership skew: an owner holding more than sharing.skew_threshold records of a
    -- protected table, read from the planner statistics of the owner column (its most
    -- common values and their frequencies times the table's row estimate; the number
    -- of distinct owners when no single one stands out). No table is scanned.
    FOR t IN
        SELECT p.table_name AS tbl, p.owner_column, ns.nspname, c.relname, c.relkind,
               CASE WHEN c.relkind = 'p'
                    THEN (SELECT pg_catalog.sum(GREATEST(lc.reltuples, 0)::float8)
                            FROM sharing._relation_tree(p.table_name) l
                            JOIN pg_catalog.pg_class lc ON lc.oid = l.relid WHERE lc.relkind = 'r')
                    ELSE c.reltuples::float8 END AS reltuples
          FROM sharing.protected_tables p
          JOIN pg_catalog.pg_class c ON c.oid = p.table_name
          JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
         ORDER BY p.table_name::text
    LOOP
        SELECT s.most_common_vals::text::text[] AS vals, s.most_common_freqs AS freqs,
               s.n_distinct, s.null_frac
          INTO st
          FROM pg_catalog.pg_stats s
         WHERE s.schemaname = t.nspname AND s.tablename = t.relname AND s.attname = t.owner_column
           AND s.inherited = (t.relkind = 'p');
        IF NOT FOUND THEN
            -- Never analyzed (or empty when last analyzed): skew is possible only
            -- with more than the threshold's rows, which a bounded count tells.
            IF v_dba THEN
                EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM (SELECT 1 FROM %s LIMIT %s) x',
                                          t.tbl, v_threshold + 1) INTO v_n;
                IF v_n > v_threshold THEN
                    severity := 'notice'; code := 'table_not_analyzed';
                    subject := pg_catalog.format('table %s', t.tbl);
                    detail := pg_catalog.format('%s has more than %s rows but no statistics of its owner column %I: its ownership skew cannot be judged, and the planner guesses',
                        t.tbl, v_threshold, t.owner_column);
                    hint := pg_catalog.format('ANALYZE %s (autovacuum does it in time)', t.tbl);
                    RETURN NEXT;
                END IF;
            END IF;
            CONTINUE;
        END IF;
        v_rows := coalesce(t.reltuples, 0);
        v_found := false;
        FOR r IN
            SELECT m.owner, m.freq, pg_catalog.round(m.freq * v_rows)::bigint AS records, u.name, u.id IS NOT NULL AS known
              FROM ROWS FROM (pg_catalog.unnest(st.vals), pg_catalog.unnest(st.freqs)) AS m(owner, freq)
              LEFT JOIN sharing.users u ON u.id::text = m.owner
             WHERE m.freq * v_rows > v_threshold
               AND (v_scope IS NULL OR u.company_id = v_scope)
             ORDER BY m.freq DESC, m.owner
        LOOP
            v_found := true;
            severity := 'warning'; code := 'ownership_skew';
            subject := pg_catalog.format('table %s, owner %s%s', t.tbl, r.owner,
                CASE WHEN r.known AND r.name IS NOT NULL THEN pg_catalog.format(' "%s"', r.name)
                     WHEN r.known THEN '' ELSE ' (not a user)' END);
            detail := pg_catalog.format('one owner holds about %s of the %s records of %s (%s%%, from the statistics of the last ANALYZE); sharing.skew_threshold is %s',
                r.records, pg_catalog.round(v_rows)::bigint, t.tbl, pg_catalog.round((r.freq * 100)::numeric, 1), v_threshold);
            hint := 'spread the records over more owners (Salesforce''s guidance: at most 10,000 records per owner); if an integration or queue user must own them, give it a role at the top of the hierarchy or none, so that few viewers reach that pile through the hierarchy';
            RETURN NEXT;
        END LOOP;
        -- No owner stands out, but there are so few owners that the average is over.
        IF v_dba AND NOT v_found AND st.n_distinct IS NOT NULL AND st.n_distinct <> 0 THEN
            v_n := pg_catalog.round(CASE WHEN st.n_distinct > 0 THEN st.n_distinct ELSE -st.n_distinct * v_rows END);
            IF v_n > 0 AND v_rows * (1 - st.null_frac) / v_n > v_threshold THEN
                severity := 'warning'; code := 'ownership_skew';
                subject := pg_catalog.format('table %s', t.tbl);
                detail := pg_catalog.format('about %s owners hold the %s records of %s: about %s each (from the statistics of the last ANALYZE); sharing.skew_threshold is %s',
                    v_n, pg_catalog.round(v_rows)::bigint, t.tbl, pg_catalog.round(v_rows * (1 - st.null_frac) / v_n)::bigint, v_threshold);
                hint := 'spread the records over more owners (Salesforce''s guidance: at most 10,000 records per owner)';
                RETURN NEXT;
            END IF;
        END IF;
    END LOOP;

    ------------------------------------------------------------------- notices
    -- An agreement that grants nothing.
    FOR r IN SELECT a.id, g.name AS grantor, e.name AS grantee FROM sharing.agreements a
               JOIN sharing.companies g ON g.id = a.grantor_company
               JOIN sharing.companies e ON e.id = a.grantee_company
              WHERE (v_scope IS NULL OR v_scope IN (a.grantor_company, a.grantee_company))
                AND NOT EXISTS (SELECT 1 FROM sharing.agreement_permissions ap WHERE ap.agreement_id = a.id)
              ORDER BY a.id LOOP
        severity := 'notice'; code := 'agreement_without_permissions';
        subject := pg_catalog.format('agreement %s (%s to %s)', r.id, r.grantor, r.grantee);
        detail := pg_catalog.format('%s shares nothing with %s through it: it has no row in sharing.agreement_permissions', r.grantor, r.grantee);
        hint := pg_catalog.format('add what it should grant (INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES (%s, ''deals'', ''view'')), or delete it (DELETE FROM sharing.agreements WHERE id = %s)', r.id, r.id);
        RETURN NEXT;
    END LOOP;

    -- Sharing rules that give nothing (judged by the compiled model: src/model/advice.rs).
    FOR r IN SELECT x.rule_id, x.code, x.why, s.object_type, s.access, s.source_scope, s.target_scope,
                    src.name AS source, tgt.name AS target, co.name AS company,
                    (SELECT ot.org_wide_default FROM sharing.object_types ot WHERE ot.name = s.object_type) AS owd
               FROM sharing._advise_rules() x
               JOIN sharing.sharing_rules s ON s.id = x.rule_id
               JOIN sharing.roles src ON src.id = s.source_role
               JOIN sharing.roles tgt ON tgt.id = s.target_role
               JOIN sharing.companies co ON co.id = s.company_id
              ORDER BY x.code, x.rule_id LOOP
        severity := 'notice'; code := r.code;
        subject := pg_catalog.format('sharing rule %s (%s)', r.rule_id, r.company);
        IF r.code = 'redundant_rule' THEN
            detail := pg_catalog.format('it shares %s of %s owned by "%s"%s with "%s"%s, but %s',
                r.access, coalesce(r.object_type, 'every type'), r.source,
                CASE WHEN r.source_scope = 'role_and_subordinates' THEN ' and subordinates' ELSE '' END,
                r.target,
                CASE WHEN r.target_scope = 'role_and_subordinates' THEN ' and subordinates' ELSE '' END,
                r.why);
            hint := pg_catalog.format('delete it (DELETE FROM sharing.sharing_rules WHERE id = %s), or point it where it was meant to share: sideways or down the hierarchy', r.rule_id);
        ELSE
            detail := pg_catalog.format('it shares %s of %s, but the org-wide default (%s) already opens that to everyone who holds at least owned',
                r.access, coalesce(r.object_type, 'every type'), coalesce(r.owd, 'of every type'));
            hint := pg_catalog.format('delete it (DELETE FROM sharing.sharing_rules WHERE id = %s), or make the type private (UPDATE sharing.object_types SET org_wide_default = ''private'') if the rule is what should decide', r.rule_id);
        END IF;
        RETURN NEXT;
    END LOOP;

    ---------------------------------------------------------------------- info
    -- Record shares past their end: they count for nothing, but are kept.
    FOR r IN SELECT s.object_type, co.name AS company, pg_catalog.count(*) AS n
               FROM sharing.record_shares s JOIN sharing.companies co ON co.id = s.company_id
              WHERE s.valid_until <= pg_catalog.now() AND (v_scope IS NULL OR s.company_id = v_scope)
              GROUP BY s.object_type, co.name ORDER BY co.name, s.object_type LOOP
        severity := 'info'; code := 'expired_record_shares';
        subject := pg_catalog.format('record shares of %s (%s)', r.object_type, r.company);
        detail := pg_catalog.format('%s record shares of %s ended (valid_until <= now()): they give nothing and only take room', r.n, r.object_type);
        hint := 'SELECT sharing.purge_expired_shares()';
        RETURN NEXT;
    END LOOP;

    -- Roles nobody holds, nobody reports to and nobody is based on (the standard,
    -- protected and default roles are left out: they stay by design).
    FOR r IN SELECT x.id, x.name, co.name AS company FROM sharing.roles x
               JOIN sharing.companies co ON co.id = x.company_id
              WHERE (v_scope IS NULL OR x.company_id = v_scope)
                AND NOT x.is_protected AND NOT x.is_default
                AND NOT EXISTS (SELECT 1 FROM sharing._standard_roles sr WHERE sr.role_id = x.id)
                AND NOT EXISTS (SELECT 1 FROM sharing.user_roles ur WHERE ur.role_id = x.id)
                AND NOT EXISTS (SELECT 1 FROM sharing.roles y WHERE y.reports_to = x.id)
                AND NOT EXISTS (SELECT 1 FROM sharing.roles y WHERE y.based_on = x.id)
              ORDER BY co.name, x.name LOOP
        severity := 'info'; code := 'unused_role';
        subject := pg_catalog.format('role %s "%s" (%s)', r.id, r.name, r.company);
        detail := 'no user holds it, no role reports to it and no role is based on it';
        hint := pg_catalog.format('give it members, or delete it (SELECT sharing.delete_role(%s)); the sharing rules and record shares naming it go with it', r.id);
        RETURN NEXT;
    END LOOP;
END
$$;

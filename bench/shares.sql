-- Record shares for the benchmark (docs/benchmarks.md, "Record shares"), on a
-- database loaded with bench/dataset.sql: :shares live shares of `deals` records
-- (default 200,000) and 10 % more expired ones, inserted as a DBA (superuser, no
-- viewer) with INSERT … SELECT. Reproducible (hashes of the share number, no random()).
--
-- Grantees (share number g):
--   g % 10 in 0..5  a user (60 %)              — one of users 1..20000
--   g % 10 in 6..8  a role, scope 'role' (30 %) — one of the 1,365 hierarchy roles
--   g % 10 = 9      a role, 'role_and_subordinates' (10 %) — an inner role of depth 2..4
--   access read_write for g % 3 = 0, else read; a quarter end in a year, the rest never.
-- One leaf salesperson, user 10401 (role r502, below r125, r31, r7, r1, r0), is left
-- with no share at all (the bench's viewer "without shares"): the values that would
-- reach them are moved to the next user or role.
--
-- The per-row guard trigger (record_shares_guard, and z_audit) is timed on the first
-- :guarded shares (default 5,000); it is ENABLE (origin), not ENABLE ALWAYS, so the rest
-- are bulk-loaded with session_replication_role = replica, consistent by construction
-- (existing records, company 1, canonical ids, grantees of company 1).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\if :{?shares}
\else
\set shares 200000
\endif
\if :{?guarded}
\else
\set guarded 5000
\endif
SELECT count(*) AS deals_rows FROM deals \gset

-- Share g (1-based) of a series: live ones for kind 'live', expired ones for 'expired'.
CREATE FUNCTION bench_share_rows(lo bigint, hi bigint, kind text, deals_rows bigint)
RETURNS TABLE (object_type text, record_id text, company_id bigint, user_id bigint, role_id bigint,
               scope text, access text, valid_from timestamptz, valid_until timestamptz, note text)
LANGUAGE sql STABLE AS $$
  WITH s AS (
    SELECT g,
           1 + abs(hashint8extended(g, CASE WHEN kind = 'expired' THEN 11 ELSE 10 END)) % deals_rows AS rec,
           1 + abs(hashint8extended(g, 20)) % 20000 AS u,     -- a user
           abs(hashint8extended(g, 30)) % 1365 AS rn,         -- a role of the tree, r0..r1364
           5 + abs(hashint8extended(g, 40)) % 336 AS inner_n  -- an inner role of depth 2..4, r5..r340
      FROM generate_series(lo, hi) g)
  SELECT 'deals', rec::text, 1::bigint,
         CASE WHEN g % 10 < 6 THEN CASE WHEN u = 10401 THEN 10402 ELSE u END END,
         CASE WHEN g % 10 BETWEEN 6 AND 8 THEN 10000 + CASE WHEN rn = 502 THEN 503 ELSE rn END
              WHEN g % 10 = 9 THEN 10000 + CASE WHEN inner_n IN (7, 31, 125) THEN inner_n + 1 ELSE inner_n END END,
         CASE WHEN g % 10 BETWEEN 6 AND 8 THEN 'role' WHEN g % 10 = 9 THEN 'role_and_subordinates' END,
         CASE WHEN g % 3 = 0 THEN 'read_write' ELSE 'read' END,
         CASE WHEN kind = 'expired' THEN timestamptz '2020-01-01' + (g % 1000) * interval '1 hour'
              ELSE timestamptz '2020-01-01' END,
         CASE WHEN kind = 'expired' THEN timestamptz '2021-01-01' + (g % 1000) * interval '1 hour'
              WHEN g % 4 = 0 THEN now() + interval '365 days' END,
         'bench'
    FROM s $$;

SELECT string_agg(tgname || '=' || tgenabled::text, ', ' ORDER BY tgname) AS guard_triggers
  FROM pg_trigger WHERE tgrelid = 'sharing.record_shares'::regclass AND NOT tgisinternal \gset
\echo 'record_shares triggers (O = enabled, A = always):' :guard_triggers

-- Through the guard trigger (and the audit trigger), as a DBA would insert them.
SELECT clock_timestamp() AS t0 \gset
INSERT INTO sharing.record_shares (object_type, record_id, company_id, user_id, role_id, scope, access, valid_from, valid_until, note)
SELECT * FROM bench_share_rows(1, :guarded, 'live', :deals_rows);
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric * 1000, 1) AS ms \gset
\echo 'bulk insert through the guard trigger:' :guarded 'shares in' :ms 'ms'
SELECT round(:ms / :guarded * 1000, 1) AS us_per_row,
       round(:ms / :guarded * :shares * 1.1 / 1000, 1) AS extrapolated_s \gset
\echo '  =' :us_per_row 'µs per share; all' :shares '+ 10 % through it would take about' :extrapolated_s 's'

-- The rest in bulk, without the per-row triggers (not ENABLE ALWAYS).
SELECT clock_timestamp() AS t0 \gset
SET session_replication_role = replica;
INSERT INTO sharing.record_shares (object_type, record_id, company_id, user_id, role_id, scope, access, valid_from, valid_until, note)
SELECT * FROM bench_share_rows(:guarded + 1, :shares, 'live', :deals_rows);
INSERT INTO sharing.record_shares (object_type, record_id, company_id, user_id, role_id, scope, access, valid_from, valid_until, note)
SELECT * FROM bench_share_rows(1, :shares / 10, 'expired', :deals_rows);
RESET session_replication_role;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric * 1000, 1) AS ms \gset
\echo 'bulk insert with session_replication_role = replica: the other shares in' :ms 'ms'
ANALYZE sharing.record_shares;

-- The ids shared with a viewer for an action, computed in plain SQL from the table with
-- the same rules as the policies' share arm (sharing._shared_ids_int8): live now, the
-- viewer's company, an access that covers the action (view: read or read_write; edit:
-- read_write), granted to the viewer, to one of their roles, or with
-- role_and_subordinates to a role above one of theirs.
CREATE FUNCTION bench_shared_ids(viewer bigint, action text) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE mine AS (SELECT m.role_id FROM sharing.user_roles m WHERE m.user_id = viewer),
  up (id) AS (SELECT r.reports_to FROM sharing.roles r JOIN mine ON r.id = mine.role_id WHERE r.reports_to IS NOT NULL
              UNION SELECT r.reports_to FROM sharing.roles r JOIN up ON r.id = up.id WHERE r.reports_to IS NOT NULL),
  v AS (SELECT (SELECT u.company_id FROM sharing.users u WHERE u.id = viewer) AS company,
               (SELECT array_agg(role_id) FROM mine) AS own, (SELECT array_agg(id) FROM up) AS above)
  SELECT coalesce(array_agg(DISTINCT s.record_id::bigint ORDER BY s.record_id::bigint), '{}')
    FROM v, sharing.record_shares s
   WHERE s.object_type = 'deals' AND s.company_id = v.company
     AND s.access = ANY (CASE action WHEN 'view' THEN ARRAY['read', 'read_write'] ELSE ARRAY['read_write'] END)
     AND s.valid_from <= now() AND (s.valid_until IS NULL OR s.valid_until > now())
     AND (s.user_id = viewer OR s.role_id = ANY (v.own)
          OR (s.role_id = ANY (v.above) AND s.scope = 'role_and_subordinates')) $$;

SELECT count(*) FILTER (WHERE valid_until IS NULL OR valid_until > now()) AS live,
       count(*) FILTER (WHERE valid_until <= now()) AS expired,
       count(*) FILTER (WHERE user_id IS NOT NULL) AS to_users,
       count(*) FILTER (WHERE scope = 'role') AS to_roles,
       count(*) FILTER (WHERE scope = 'role_and_subordinates') AS to_roles_and_subordinates,
       count(*) FILTER (WHERE access = 'read_write') AS read_write
  FROM sharing.record_shares;

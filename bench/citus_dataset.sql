-- The Citus benchmark's dataset (scripts/bench-citus.sh, docs/benchmarks.md), loaded
-- on the coordinator of a cluster made by scripts/citus.sh (configuration
-- distributed). Reproducible (setseed). psql variables: rows (deals in all),
-- companies (at least 2).
-- Company 1 is bench/dataset.sql's company: a role hierarchy with branching 4 and
-- depth 5 below its Administrator role (1,365 roles, ids 10000 + n), users 1..20,000
-- (one per inner role, the rest at the leaves) and the admin 20,001 — so the viewer
-- classes are the same users as on one node. Companies 2.. are smaller: branching 4
-- and depth 3 (85 roles, ids c * 100000 + n), 2,000 users (ids c * 100000 + u).
-- Company 1 owns half of the deals, the others share the other half; `deals` is
-- distributed by company_id (32 shards, citus.shard_count), with indexes on owner_id
-- and created_at, and protected.
-- Configuration rows are written on the coordinator with session_replication_role =
-- replica (no guards, as bench/dataset.sql): the capture triggers are ENABLE ALWAYS,
-- so each statement's rows reach the workers in the same transaction.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
INSERT INTO sharing.object_types (name) VALUES ('deals');
SELECT sharing.create_company(CASE WHEN c = 1 THEN 'Bench' ELSE 'Bench ' || c END)
  FROM generate_series(1, :companies) c ORDER BY c;
SET session_replication_role = replica;
-- Company 1: role n (0..1364) of a complete 4-ary tree, parent (n - 1) / 4.
INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on)
SELECT 10000 + n, 1, 'r' || n, CASE WHEN n = 0 THEN 1 ELSE 10000 + (n - 1) / 4 END, 3
  FROM generate_series(0, 1364) n ORDER BY n;
-- The other companies: roles n (0..84) below their Administrator.
INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on)
SELECT c * 100000 + n, c, 'r' || n,
       CASE WHEN n = 0 THEN (SELECT r.id FROM sharing.roles r WHERE r.company_id = c AND r.name = 'Administrator')
            ELSE c * 100000 + (n - 1) / 4 END,
       (SELECT r.id FROM sharing.roles r WHERE r.company_id = c AND r.name = 'User')
  FROM generate_series(2, :companies) c, generate_series(0, 84) n ORDER BY c, n;
INSERT INTO sharing.users (id, company_id, name)
SELECT u, 1, 'u' || u FROM generate_series(1, 20000) u
UNION ALL
SELECT c * 100000 + u, c, 'u' || u FROM generate_series(2, :companies) c, generate_series(1, 2000) u;
INSERT INTO sharing.user_roles (user_id, role_id)
SELECT u, 10000 + CASE WHEN u <= 341 THEN u - 1 ELSE 341 + (u % 1024) END FROM generate_series(1, 20000) u
UNION ALL
SELECT c * 100000 + u, c * 100000 + CASE WHEN u <= 21 THEN u - 1 ELSE 21 + (u % 64) END
  FROM generate_series(2, :companies) c, generate_series(1, 2000) u;
-- The admin of company 1.
INSERT INTO sharing.users (id, company_id, name) VALUES (20001, 1, 'admin');
INSERT INTO sharing.user_roles (user_id, role_id) VALUES (20001, 1);
RESET session_replication_role;
-- A configuration statement with triggers on, so the generation moves on.
UPDATE sharing.object_types SET grant_via_hierarchy = true;

SELECT setseed(0.17);
CREATE TABLE deals (id bigint NOT NULL, owner_id bigint NOT NULL, company_id bigint NOT NULL,
                    amount numeric NOT NULL, created_at timestamptz NOT NULL,
                    PRIMARY KEY (company_id, id));
SELECT create_distributed_table('deals', 'company_id');
-- Half the rows to company 1 (owners 1..20,000 as on one node), the rest spread
-- over the other companies' users.
INSERT INTO deals
SELECT g, CASE WHEN c = 1 THEN 1 + (random() * 19999)::int ELSE c * 100000 + 1 + (random() * 1999)::int END,
       c, round((random() * 10000)::numeric, 2), timestamptz '2026-01-01' + random() * interval '365 days'
  FROM (SELECT g, CASE WHEN g <= :rows / 2 THEN 1 ELSE 2 + g % (:companies - 1) END AS c
          FROM generate_series(1, :rows) g) s;
CREATE INDEX deals_owner_idx ON deals (owner_id);
CREATE INDEX deals_created_idx ON deals (created_at);
SELECT sharing.protect('deals', 'deals', id_column => NULL);

-- The application role: trusted to set the viewer, SET LOCAL carried to the workers
-- (docs/scaling.md, "The viewer").
CREATE ROLE bench_app LOGIN;
GRANT SELECT ON deals TO bench_app;
INSERT INTO sharing.trusted_app_roles VALUES ('bench_app');
ALTER ROLE bench_app SET citus.propagate_set_commands = 'local';
VACUUM ANALYZE deals;

#!/usr/bin/env python3
"""Writes sql/pg_sharing--0.3.0--0.4.0.sql while 0.4.0 is unreleased (run from the
repository root after `cargo pgrx install`): the functions scripts/upgrade-diff.py
finds new or changed, the hand-written table, trigger and data steps below, and the
object sections of sql/tenancy.sql, sql/shares.sql and sql/finalize.sql. Once 0.4.0
is released the upgrade script is frozen and this generator is removed."""
import os, re, subprocess
sharedir = subprocess.run(['pg_config', '--sharedir'], capture_output=True, text=True).stdout.strip() \
    or '/usr/share/postgresql/15'
installed = os.path.join(sharedir, 'extension', 'pg_sharing--0.4.0.sql')
fd=subprocess.run(['python3','scripts/upgrade-diff.py','sql/released/pg_sharing--0.3.0.sql',installed],capture_output=True,text=True).stdout
tenancy=open('sql/tenancy.sql').read()
# remove function definitions (they come from the diff) and the header comment
tenancy=re.sub(r"CREATE FUNCTION .*?\$\$;\n", "", tenancy, flags=re.S)
tenancy=tenancy[tenancy.index('DO $$'):]
finalize=open('sql/finalize.sql').read()
dropped=re.findall(r"^-- dropped: (\w+)\((.*)\)$", fd, flags=re.M)
drops=''.join(f"DROP FUNCTION sharing.{n}({t});\n" for n,t in dropped)
shares=open('sql/shares.sql').read()
shares=re.sub(r"CREATE FUNCTION .*?\$\$;\n", "", shares, flags=re.S)
shares=shares[shares.index('CREATE TABLE sharing.record_shares'):]
# The table before the functions (SQL functions that read it are checked when
# created), its triggers and policies after them.
cut=shares.index("SELECT pg_catalog.pg_extension_config_dump('sharing.record_shares_id_seq', '');\n")
cut+=len("SELECT pg_catalog.pg_extension_config_dump('sharing.record_shares_id_seq', '');\n")
shares_table, shares=shares[:cut], shares[cut:]
api=open('sql/api.sql').read()
a=api.index('CREATE VIEW sharing.role_privilege_matrix')
privilege_view=api[a:api.index(';',a)+1]+'\n'
a=api.index('CREATE VIEW sharing.role_members')
privilege_view+=api[a:api.index(';',a)+1].replace('CREATE VIEW', 'CREATE OR REPLACE VIEW', 1)+'\n'
audit=open('sql/audit.sql').read()
a=audit.index('CREATE POLICY audit_log_own_company')
audit_policy='DROP POLICY audit_log_own_company ON sharing.audit_log;\n'+audit[a:audit.index(';',a)+1]+'\n'
gen=open('sql/generation.sql').read()
a=gen.index('CREATE TABLE sharing._changes')
b=gen.index('REVOKE ALL ON sharing._changes FROM PUBLIC;\n',a)+len('REVOKE ALL ON sharing._changes FROM PUBLIC;\n')
changes_table=gen[a:b]
a=gen.index("    FOREACH t IN ARRAY ARRAY['users', 'user_roles', 'role_permissions', 'role_privileges',")
b=gen.index('    END LOOP;\n',a)+len('    END LOOP;\n')
changes_triggers='DO $$\nDECLARE\n    t text;\nBEGIN\n'+gen[a:b]+'END\n$$;\n'
prot=open('sql/protect.sql').read()
a=prot.index('CREATE VIEW sharing._agreements_with_permissions')
b=prot.index(';\n',a)+2
view=prot[a:b].replace('CREATE VIEW','CREATE OR REPLACE VIEW',1)
citus=open('sql/citus.sql').read()
a=citus.index('CREATE TABLE sharing._citus_key')
end='ALTER TABLE sharing._citus_unsent ENABLE ROW LEVEL SECURITY;\n'
b=citus.index(end,a)+len(end)
citus_tables=citus[a:b]
a=citus.index('CREATE CONSTRAINT TRIGGER zz_citus_flush')
b=citus.index(';\n',a)+2
citus_flush=citus[a:b]
out=f'''-- pg_sharing 0.3.0 -> 0.4.0: authority and hardening (docs/security.md), record shares
-- (docs/concepts.md, "Record shares").
-- A released upgrade script is never edited; the next change gets a new file.
-- A fresh 0.4.0 install creates the same objects (tests/upgrade.rs compares them);
-- the functions below are what scripts/upgrade-diff.py lists.
\\echo Use "ALTER EXTENSION pg_sharing UPDATE TO '0.4.0'" to load this file. \\quit

-- The DBAs besides superusers, and the standard roles known by identity.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'sharing_admin') THEN
        CREATE ROLE sharing_admin NOLOGIN;
    END IF;
END
$$;

CREATE TABLE sharing._standard_roles (
    role_id bigint PRIMARY KEY REFERENCES sharing.roles (id) ON DELETE CASCADE,
    kind    text NOT NULL CHECK (kind IN ('administrator', 'manager', 'user', 'guest'))
);
SELECT pg_catalog.pg_extension_config_dump('sharing._standard_roles', '');
-- 0.3.0 knew the standard roles by name: the roles it would have treated as standard.
INSERT INTO sharing._standard_roles (role_id, kind)
SELECT r.id, CASE r.name WHEN 'Administrator' THEN 'administrator' WHEN 'Manager' THEN 'manager' ELSE 'user' END
  FROM sharing.roles r
 WHERE r.name IN ('Administrator', 'Manager', 'User');

-- Functions whose signature changed (protect() gained id_column).
{drops}
-- Record shares name a record by the protected table's id column.
ALTER TABLE sharing.protected_tables ADD COLUMN id_column name;
-- Roles that cannot be copied (Bitrix24's head role).
ALTER TABLE sharing.roles ADD COLUMN is_copyable bool NOT NULL DEFAULT true;
-- The company owner, departments, and the ids of Guest roles (companies created
-- before 0.4.0 keep their three standard roles; a DBA may add a Guest role).
ALTER TABLE sharing.companies ADD COLUMN owner_user bigint;
ALTER TABLE sharing.users ADD COLUMN department text;
ALTER TABLE sharing.companies ADD CONSTRAINT companies_owner_user_fkey
    FOREIGN KEY (owner_user) REFERENCES sharing.users (id);
CREATE INDEX companies_owner_user_idx ON sharing.companies (owner_user);
CREATE SEQUENCE sharing.guest_role_id_seq AS bigint START WITH 1000000000001 NO CYCLE;
SELECT pg_catalog.pg_extension_config_dump('sharing.guest_role_id_seq', '');

-- Share writers and configuration writers serialize on one row (sql/generation.sql).
CREATE TABLE sharing._share_generation (
    singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
    gen       bigint NOT NULL
);
INSERT INTO sharing._share_generation (gen) VALUES (0);

-- The change log of incremental updates (as sql/generation.sql).
{changes_table}
-- Record shares (as sql/shares.sql): the table first.
{shares_table}
-- Citus (as sql/citus.sql): the key, the sequences and the pending changes sent to workers.
{citus_tables}
-- New and changed functions.
{fd}
-- Comparing privileges across roles (as sql/api.sql; security_invoker below).
{privilege_view}
-- The change log's triggers on the tables a model patches (as sql/generation.sql).
{changes_triggers}
-- Citus: what statements inside SECURITY DEFINER functions signed goes at commit (as sql/citus.sql).
{citus_flush}
-- A table dropped while protected leaves the registry.
CREATE EVENT TRIGGER sharing_forget_dropped_tables ON sql_drop
    EXECUTE FUNCTION sharing._forget_dropped_tables();

-- Ids chosen by acting viewers never run ahead of a shared sequence (sql/triggers.sql).
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

-- trusted_app_roles: a DBA session only.
DROP TRIGGER trusted_app_roles_guard ON sharing.trusted_app_roles;
CREATE TRIGGER trusted_app_roles_guard BEFORE INSERT OR UPDATE OR DELETE ON sharing.trusted_app_roles
    FOR EACH ROW EXECUTE FUNCTION sharing._dba_guard();

-- The agreement views: security barriers.
{view}
ALTER VIEW sharing.shared_by_you SET (security_barrier = true);
ALTER VIEW sharing.shared_with_you SET (security_barrier = true);

-- Internal tables, tenant isolation and the effect check (as sql/tenancy.sql).
{tenancy}
-- Record shares (as sql/shares.sql): triggers and row level security; the audit
-- entries of shares are read like the shares.
{shares}
{audit_policy}
-- Protected tables whose `id` column can name records get record shares; every
-- protected table gets the transfer trigger and the new policies.
-- (A migration, not a change of anyone's: not in the audit log.)
SET session_replication_role = replica;
UPDATE sharing.protected_tables pt SET id_column = 'id'
 WHERE sharing._column_type(pt.table_name, 'id') IN ('bigint'::regtype, 'integer'::regtype, 'uuid'::regtype);
RESET session_replication_role;
SELECT sharing._apply_policies(t.relid, pt.object_type, pt.owner_column, pt.company_column, pt.assignee_column, pt.id_column)
  FROM sharing.protected_tables pt
 CROSS JOIN LATERAL sharing._relation_tree(pt.table_name) t;

-- Privileges, as sql/finalize.sql.
{finalize}'''
open('sql/pg_sharing--0.3.0--0.4.0.sql','w').write(out)

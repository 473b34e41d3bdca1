//! The extension's objects, driven by the catalog (docs/security.md, "Every object,
//! from the catalog"): every table, view and SECURITY DEFINER function of schema
//! `sharing` is classified here, and each is tried by a login holding the grants the
//! documentation recommends, without a viewer and as another company's admin. A new
//! object that is not classified fails the test, so none can be forgotten.

mod common;
use common::*;
use postgres::Client;

/// Row-level secured per company (docs/security.md, tenant isolation).
const CONFIG: &[&str] = &[
    "companies",
    "users",
    "roles",
    "user_roles",
    "role_permissions",
    "role_privileges",
    "sharing_rules",
    "agreements",
    "agreement_permissions",
    "trusted_app_roles",
    "record_shares",
];
/// Global and readable; written by a DBA session only (its trigger).
const GLOBAL: &[&str] = &["object_types"];
/// Written by the extension only, whatever is granted (the `a_internal_guard` trigger).
const INTERNAL: &[&str] = &[
    "_generation",
    "_share_generation",
    "_changes",
    "protected_tables",
    "_standard_roles",
    "audit_log",
    "_citus_key",
    "_citus_pending",
    "_citus_unsent",
];
/// Views: each reads as its caller (`security_invoker`) or is a `security_barrier`
/// filtered to the viewer's company.
const VIEWS: &[(&str, &str)] = &[
    ("role_permission_matrix", "security_invoker=true"),
    ("role_privilege_matrix", "security_invoker=true"),
    ("role_members", "security_invoker=true"),
    ("_agreements_with_permissions", "security_barrier=true"),
    ("shared_by_you", "security_barrier=true"),
    ("shared_with_you", "security_barrier=true"),
];

/// Every SECURITY DEFINER function that is not a trigger function, with a call an
/// attacker would make about Acme (company 1, user 1) and what it must give a login
/// that has no viewer: an error (SQLSTATE) or a harmless value (as text).
const DEFINERS: &[(&str, &str, Outcome)] = &[
    (
        "_require_dba",
        "SELECT sharing._require_dba('x')",
        Outcome::Error("42501"),
    ),
    (
        "_require_grantable_privilege",
        "SELECT sharing._require_grantable_privilege('admin')",
        Outcome::Error("42501"),
    ),
    (
        "_require_grantor",
        "SELECT sharing._require_grantor(1, 2)",
        Outcome::Error("42501"),
    ),
    (
        "_require_level",
        "SELECT sharing._require_level('deals', 'view', 'all')",
        Outcome::Error("42501"),
    ),
    (
        "_require_privilege",
        "SELECT sharing._require_privilege('admin', 1, true)",
        Outcome::Error("42501"),
    ),
    (
        "_require_role_within",
        "SELECT sharing._require_role_within(1)",
        Outcome::Error("42501"),
    ),
    (
        "_require_role_changeable",
        "SELECT sharing._require_role_changeable(1)",
        Outcome::Error("42501"),
    ),
    (
        "_require_user_within",
        "SELECT sharing._require_user_within(1)",
        Outcome::Error("42501"),
    ),
    (
        "_require_ownership_transfer",
        "SELECT sharing._require_ownership_transfer(1, 1)",
        Outcome::Error("42501"),
    ),
    (
        "_require_self_or_dba",
        "SELECT sharing._require_self_or_dba(1, 'x')",
        Outcome::Error("42501"),
    ),
    (
        "_require_share",
        "SELECT sharing._require_share('deals', '1', true, 1, 1, NULL, 'read_write')::text",
        Outcome::Error("42501"),
    ),
    (
        "_require_unshare",
        "SELECT sharing._require_unshare(1, 'deals', '1', 1, 1, NULL, 1)::text",
        Outcome::Error("42501"),
    ),
    (
        "_renumber_record",
        "SELECT sharing._renumber_record('deals', '1', '2')::text",
        Outcome::Error("42501"),
    ),
    (
        "_require_superuser",
        "SELECT sharing._require_superuser()",
        Outcome::Error("42501"),
    ),
    (
        "_role_matrix",
        "SELECT count(*)::text FROM sharing._role_matrix()",
        Outcome::Value("0"),
    ),
    (
        "_role_privilege_matrix",
        "SELECT count(*)::text FROM sharing._role_privilege_matrix()",
        Outcome::Value("0"),
    ),
    (
        "effective_permissions",
        "SELECT count(*)::text FROM sharing.effective_permissions(1)",
        Outcome::Error("42501"),
    ),
    (
        "effective_perms",
        "SELECT sharing.effective_perms(1)::text",
        Outcome::Error("42501"),
    ),
    (
        "my_permissions",
        "SELECT coalesce(sharing.my_permissions()::text, 'null')",
        Outcome::Value("null"),
    ),
    (
        "_register_protected",
        "SELECT sharing._register_protected('deals', 'deals', 'amount', 'company_id', NULL, 'id')::text",
        Outcome::Error("42501"),
    ),
    (
        "_unregister_protected",
        "SELECT sharing._unregister_protected('deals')::text",
        Outcome::Error("42501"),
    ),
    (
        "_viewer_company",
        "SELECT coalesce(sharing._viewer_company()::text, 'null')",
        Outcome::Value("null"),
    ),
    (
        "explain_access",
        "SELECT sharing.explain_access('deals', 'view', 1, 1, 1)::text",
        Outcome::Error("42501"),
    ),
    (
        "has_privilege",
        "SELECT sharing.has_privilege(1, 'admin')::text",
        Outcome::Error("42501"),
    ),
    (
        "advise",
        "SELECT count(*)::text FROM sharing.advise()",
        Outcome::Error("42501"),
    ),
    // Only the caller's own transaction's unsent changes: none.
    (
        "_citus_unsent_left",
        "SELECT coalesce(sharing._citus_unsent_left()::text, 'null')",
        Outcome::Value("null"),
    ),
];

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Error(&'static str),
    Value(&'static str),
}

fn names(c: &mut Client, sql: &str) -> Vec<String> {
    let mut v: Vec<String> = c
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    v.sort();
    v
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn every_object_is_classified() {
    let db = TestDb::new("catclass");
    let mut c = db.dba();
    let tables = names(
        &mut c,
        "SELECT relname::text FROM pg_class WHERE relnamespace = 'sharing'::regnamespace AND relkind IN ('r', 'p')",
    );
    let mut expected: Vec<&str> = CONFIG
        .iter()
        .chain(GLOBAL)
        .chain(INTERNAL)
        .copied()
        .collect();
    expected.sort();
    assert_eq!(
        tables,
        sorted(&expected),
        "classify every table of schema sharing here"
    );
    for t in CONFIG {
        assert!(
            one_bool(
                &mut c,
                &format!("SELECT relrowsecurity FROM pg_class WHERE oid = 'sharing.{t}'::regclass")
            ),
            "{t} must be row-level secured"
        );
    }
    for t in INTERNAL {
        assert_eq!(
            one_i64(&mut c, &format!("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'sharing.{t}'::regclass AND tgname = 'a_internal_guard' AND tgenabled = 'A'")),
            1,
            "{t} must be guarded"
        );
    }
    let views = names(
        &mut c,
        "SELECT relname::text FROM pg_class WHERE relnamespace = 'sharing'::regnamespace AND relkind IN ('v', 'm')",
    );
    assert_eq!(
        views,
        sorted(&VIEWS.iter().map(|v| v.0).collect::<Vec<_>>()),
        "classify every view here"
    );
    for (v, option) in VIEWS {
        assert!(
            one_bool(&mut c, &format!("SELECT '{option}' = ANY(reloptions) FROM pg_class WHERE oid = 'sharing.{v}'::regclass")),
            "{v} must have {option}"
        );
    }
    let definers = names(
        &mut c,
        "SELECT proname::text FROM pg_proc WHERE pronamespace = 'sharing'::regnamespace AND prosecdef
            AND prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)",
    );
    assert_eq!(
        definers,
        sorted(&DEFINERS.iter().map(|d| d.0).collect::<Vec<_>>()),
        "give every SECURITY DEFINER function an attack here"
    );
    // Every SECURITY DEFINER function pins its search_path.
    assert_eq!(
        names(&mut c, "SELECT proname::text FROM pg_proc WHERE pronamespace = 'sharing'::regnamespace AND prosecdef
                         AND NOT coalesce(proconfig::text LIKE '%search_path=pg_catalog, pg_temp%', false)"),
        Vec::<String>::new()
    );
}

/// The fixture of the attacks: Acme (1) and Globex (2), a protected `deals`, an
/// agreement with secret notes; `crm_admin` holds the documented grants and no viewer.
fn attacked(db: &mut TestDb) -> (Client, String, String) {
    let crm_admin = db.login("crm_admin");
    let globex_admin = db.login("gil");
    let mut dba = db.dba();
    dba.batch_execute(&format!(
        "INSERT INTO sharing.object_types (name) VALUES ('deals');
         SELECT sharing.create_company('Acme'); SELECT sharing.create_company('Globex');
         INSERT INTO sharing.users (id, company_id, name) VALUES (1, 1, 'ada'), (5, 2, 'gil');
         INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, 1), (5, 4);
         UPDATE sharing.users SET db_role = '{globex_admin}' WHERE id = 5;
         SELECT sharing.create_company('Initech');
         INSERT INTO sharing.agreements (grantor_company, grantee_company, notes) VALUES (1, 3, 'Acme secret terms');
         INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) SELECT id, 'deals', 'view' FROM sharing.agreements;
         INSERT INTO sharing.roles (company_id, name) VALUES (1, 'Acme secret role');
         INSERT INTO sharing.role_privileges (role_id, privilege) SELECT id, 'app.secret' FROM sharing.roles WHERE name = 'Acme secret role';
         INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role) VALUES (1, 'deals', 2, 3);
         CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint);
         SELECT sharing.protect('deals', 'deals');
         INSERT INTO deals VALUES (1, 1, 1);
         INSERT INTO sharing.record_shares (object_type, record_id, role_id, access) VALUES ('deals', '1', 2, 'read_write');
         -- A Citus signing key (docs/scaling.md): secret from every role but the owner.
         INSERT INTO sharing._citus_key (key) VALUES ('\\x0123456789abcdef');"
    ))
    .unwrap();
    (dba, crm_admin, globex_admin)
}

#[test]
fn no_object_is_readable_or_writable_beyond_the_trust_model() {
    let mut db = TestDb::new("catattack");
    let (mut dba, crm_admin, globex_admin) = attacked(&mut db);
    let acme_rows = |t: &str| match t {
        "companies" => "id = 1",
        "users" | "roles" | "sharing_rules" | "record_shares" => "company_id = 1",
        "user_roles" => "user_id = 1",
        "role_permissions" | "role_privileges" => "role_id IN (1, 2, 3)",
        "agreements" => "grantor_company = 1 OR grantee_company = 1",
        "agreement_permissions" => "true",
        "trusted_app_roles" => "true",
        _ => unreachable!(),
    };
    // Grants beyond the documented ones, on a column and on the sequences: stripped
    // as well (a column's UPDATE allows SELECT … FOR UPDATE, a sequence's setval).
    dba.batch_execute(&format!(
        "GRANT UPDATE (gen) ON sharing._generation TO {crm_admin};
         GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA sharing TO {crm_admin};"
    ))
    .unwrap();
    {
        let mut c = db.connect_as(&crm_admin);
        c.batch_execute("BEGIN").unwrap();
        expect_error(
            &mut c,
            "SELECT gen FROM sharing._generation FOR UPDATE",
            "42501",
        );
        c.batch_execute("ROLLBACK").unwrap();
        expect_error(
            &mut c,
            "SELECT setval('sharing._generation_seq', 1)",
            "42501",
        );
        expect_error(&mut c, "SELECT nextval('sharing._generation_seq')", "42501");
    }
    let before = dump(&mut dba);
    for (who, role) in [("no viewer", &crm_admin), ("Globex's admin", &globex_admin)] {
        let mut c = db.connect_as(role);
        for t in CONFIG {
            let filter = acme_rows(t);
            assert_eq!(
                one_i64(
                    &mut c,
                    &format!("SELECT count(*) FROM sharing.{t} WHERE {filter}")
                ),
                0,
                "{who} reads Acme's {t}"
            );
            // Writes to Acme's rows change nothing (no visible row) or are refused.
            for sql in [
                format!(
                    "UPDATE sharing.{t} SET {col} = {col} WHERE {filter}",
                    col = first_column(&mut dba, t)
                ),
                format!("DELETE FROM sharing.{t} WHERE {filter}"),
            ] {
                if let Err(e) = c.batch_execute(&sql) {
                    assert_eq!(
                        e.code().map(|s| s.code()),
                        Some("42501"),
                        "{who}: {sql}: {e}"
                    );
                }
            }
        }
        for (v, _) in VIEWS {
            let n = one_i64(
                &mut c,
                &format!("SELECT count(*) FROM sharing.{v} x WHERE x::text LIKE '%Acme%'"),
            );
            assert_eq!(n, 0, "{who} reads Acme through {v}");
        }
        for t in INTERNAL {
            // Granted SELECT on every table of the schema, a role still reads no
            // row of the Citus key and the changes it signs (row level security).
            if t.starts_with("_citus") {
                assert_eq!(
                    one_i64(&mut c, &format!("SELECT count(*) FROM sharing.{t}")),
                    0,
                    "{who} reads sharing.{t}"
                );
            }
            // Granted every privilege on the schema's tables, a role may not lock
            // one of them either: locking the generation would stop every
            // protected statement.
            c.batch_execute("BEGIN").unwrap();
            expect_error(
                &mut c,
                &format!("LOCK TABLE sharing.{t} IN ACCESS EXCLUSIVE MODE"),
                "42501",
            );
            c.batch_execute("ROLLBACK").unwrap();
            for sql in [
                format!("DELETE FROM sharing.{t}"),
                format!(
                    "UPDATE sharing.{t} SET {col} = {col}",
                    col = first_column(&mut dba, t)
                ),
            ] {
                expect_error(&mut c, &sql, "42501");
            }
        }
        expect_error(
            &mut c,
            "UPDATE sharing.object_types SET org_wide_default = 'public_read_write'",
            "42501",
        );
    }
    let mut c = db.connect_as(&crm_admin);
    for (name, sql, outcome) in DEFINERS {
        match (outcome, c.query_one(*sql, &[])) {
            (Outcome::Error(code), Err(e)) => {
                assert_eq!(e.code().map(|s| s.code()), Some(*code), "{name}: {e}")
            }
            (Outcome::Value(v), Ok(row)) => assert_eq!(row.get::<_, String>(0), *v, "{name}"),
            (o, r) => panic!("{name}: expected {o:?}, got {r:?}"),
        }
    }
    assert_eq!(
        before,
        dump(&mut dba),
        "an attack changed the configuration"
    );
}

fn first_column(c: &mut Client, table: &str) -> String {
    one_str(
        c,
        &format!("SELECT attname::text FROM pg_attribute WHERE attrelid = 'sharing.{table}'::regclass AND attnum > 0 AND NOT attisdropped AND attidentity <> 'a' ORDER BY attnum LIMIT 1"),
    )
}

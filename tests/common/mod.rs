//! Client-side test harness: every test gets a fresh database cloned from the
//! template `pg_sharing_tmpl` (which has the extension installed), on the cluster
//! started by `scripts/test.sh` (PG_SHARING_TEST_PORT). Real PostgreSQL, real RLS.
#![allow(dead_code)]

use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn port() -> String {
    std::env::var("PG_SHARING_TEST_PORT").unwrap_or_else(|_| {
        panic!("PG_SHARING_TEST_PORT is not set: run the tests with scripts/test.sh, which starts a cluster")
    })
}

pub fn connect_to(db: &str, user: &str) -> Client {
    let url = format!("host=127.0.0.1 port={} user={user} dbname={db}", port());
    Client::connect(&url, NoTls).unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// A database of one test; dropped (with its login roles) at the end.
pub struct TestDb {
    pub name: String,
    roles: Vec<String>,
}

impl TestDb {
    pub fn new(test: &str) -> TestDb {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("t_{}_{}_{n}", test, std::process::id());
        let mut admin = connect_to("postgres", "postgres");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .expect("drop old test database");
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE pg_sharing_tmpl"))
            .expect("create test database");
        TestDb {
            name,
            roles: Vec::new(),
        }
    }

    /// A database without the extension (for upgrade and restore tests).
    pub fn empty(test: &str) -> TestDb {
        let db = TestDb::new(test);
        db.dba()
            .batch_execute("DROP EXTENSION pg_sharing CASCADE; DROP SCHEMA sharing CASCADE;")
            .expect("remove the extension");
        db
    }

    /// A superuser connection (a DBA: no viewer unless set).
    pub fn dba(&self) -> Client {
        connect_to(&self.name, "postgres")
    }

    /// Create a login role unique to this test, granted full DML on the sharing
    /// tables (the no-escalation rules, not table privileges, are under test), and
    /// return its name.
    pub fn login(&mut self, short: &str) -> String {
        let role = format!("{}_{short}", self.name);
        let mut c = self.dba();
        c.batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sharing TO {role};
             GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sharing TO {role};"
        ))
        .expect("create login role");
        self.roles.push(role.clone());
        role
    }

    pub fn connect_as(&self, role: &str) -> Client {
        connect_to(&self.name, role)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let mut admin = connect_to("postgres", "postgres");
        let _ = admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
        for r in &self.roles {
            let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {r}"));
        }
    }
}

/// Run `sql` and demand an error with `sqlstate`; returns the error's message,
/// hint included, for further assertions.
#[track_caller]
pub fn expect_error(client: &mut Client, sql: &str, sqlstate: &str) -> String {
    match client.batch_execute(sql) {
        Ok(()) => panic!("expected SQLSTATE {sqlstate}, but this succeeded:\n{sql}"),
        Err(e) => {
            let db = e
                .as_db_error()
                .unwrap_or_else(|| panic!("not a database error: {e}"));
            assert_eq!(
                db.code().code(),
                sqlstate,
                "wrong SQLSTATE for:\n{sql}\nmessage: {}",
                db.message()
            );
            format!("{} | hint: {}", db.message(), db.hint().unwrap_or(""))
        }
    }
}

/// Every row of every sharing table, as text: equal before and after a refused
/// statement proves that nothing was half-written.
pub fn dump(client: &mut Client) -> String {
    dump_except(client, &[])
}

/// [`dump`] without the named columns: what an upgrade must keep, columns it adds
/// left out.
pub fn dump_except(client: &mut Client, columns: &[&str]) -> String {
    let drop = format!(
        "ARRAY[{}]::text[]",
        columns
            .iter()
            .map(|c| format!("'{c}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let tables = [
        "companies",
        "object_types",
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
    tables
        .iter()
        .map(|t| {
            // A table of a later version is empty before an upgrade.
            let exists = client
                .query_one(&format!("SELECT to_regclass('sharing.{t}') IS NOT NULL"), &[])
                .unwrap()
                .get::<_, bool>(0);
            if !exists {
                return format!("{t}: []");
            }
            let row = client
                .query_one(
                    &format!(
                        "SELECT coalesce(jsonb_agg(to_jsonb(x) - {drop} ORDER BY (to_jsonb(x) - {drop})::text), '[]')::text FROM sharing.{t} x"
                    ),
                    &[],
                )
                .unwrap();
            format!("{t}: {}", row.get::<_, String>(0))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Assert that `sql` fails with `sqlstate` and leaves every sharing table as it was.
#[track_caller]
pub fn refused_unchanged(client: &mut Client, sql: &str, sqlstate: &str) -> String {
    let before = dump(client);
    let msg = expect_error(client, sql, sqlstate);
    let after = dump(client);
    assert_eq!(before, after, "a refused statement changed data:\n{sql}");
    msg
}

pub fn one_i64(client: &mut Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

pub fn one_str(client: &mut Client, sql: &str) -> String {
    client.query_one(sql, &[]).unwrap().get(0)
}

pub fn one_bool(client: &mut Client, sql: &str) -> bool {
    client.query_one(sql, &[]).unwrap().get(0)
}

/// Ids of the standard roles of a company: (Administrator, Manager, User).
pub fn standard_roles(client: &mut Client, company: i64) -> (i64, i64, i64) {
    let id = |c: &mut Client, n: &str| {
        one_i64(
            c,
            &format!("SELECT id FROM sharing.roles WHERE company_id = {company} AND name = '{n}'"),
        )
    };
    (
        id(client, "Administrator"),
        id(client, "Manager"),
        id(client, "User"),
    )
}

/// Insightly's example: Sales Director > Regional Sales Managers > Salespeople.
/// Users: 1 admin, 2 director, 3 east manager, 4 west manager, 5/6 east reps,
/// 7 west rep, 8 a pending guest. One deal per user (id = owner id).
pub const INSIGHTLY: &str = "
INSERT INTO sharing.object_types (name) VALUES ('deals');
INSERT INTO sharing.companies (id, name) VALUES (1, 'Acme');
INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES
  (10, 1, 'Sales Director', 1, 2),
  (11, 1, 'East Sales Manager', 10, 3),
  (12, 1, 'West Sales Manager', 10, 3),
  (13, 1, 'East Salesperson', 11, 3),
  (14, 1, 'West Salesperson', 12, 3);
INSERT INTO sharing.users (id, company_id, name, status) VALUES
  (1, 1, 'ada', 'active'), (2, 1, 'dan', 'active'), (3, 1, 'eve', 'active'), (4, 1, 'wes', 'active'),
  (5, 1, 'ed', 'active'), (6, 1, 'em', 'active'), (7, 1, 'will', 'active'), (8, 1, 'guest', 'pending');
INSERT INTO sharing.user_roles (user_id, role_id) VALUES
  (1, 1), (2, 10), (3, 11), (4, 12), (5, 13), (6, 13), (7, 14);
DELETE FROM sharing.user_roles WHERE role_id = 3 AND user_id BETWEEN 1 AND 7;
CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint, amount numeric, note text);
SELECT sharing.protect('deals', 'deals');
INSERT INTO deals SELECT u.id, u.id, 1, u.id * 100, 'deal of ' || u.name FROM sharing.users u;
";

/// A database with the Insightly org, and a trusted application role.
pub fn insightly(db: &mut TestDb) -> (Client, String) {
    let app = db.login("app");
    let mut c = db.dba();
    c.batch_execute(INSIGHTLY).unwrap();
    c.batch_execute(&format!(
        "INSERT INTO sharing.trusted_app_roles VALUES ('{app}');
         GRANT SELECT, INSERT, UPDATE, DELETE ON deals TO {app};"
    ))
    .unwrap();
    (c, app)
}

/// [`insightly`], with session-level viewers allowed for its application role by the
/// DBA (`sharing.viewer_scope = session`): for the tests of other things than pooling,
/// which set the viewer once per session.
pub fn insightly_session(db: &mut TestDb) -> (Client, String) {
    let (mut dba, app) = insightly(db);
    allow_session_viewers(&mut dba, &app);
    (dba, app)
}

/// `ALTER ROLE app SET sharing.viewer_scope = session`, as the DBA.
pub fn allow_session_viewers(dba: &mut Client, app: &str) {
    dba.batch_execute(&format!(
        "ALTER ROLE {app} SET sharing.viewer_scope = session"
    ))
    .unwrap();
}

/// A session of the trusted application role `app` acting as `viewer` for the whole
/// session: the DBA allows `app` session-level viewers first (`sharing.viewer_scope`;
/// applications behind a pooler use `SET LOCAL` instead, see docs/integration.md).
pub fn as_viewer(db: &TestDb, app: &str, viewer: i64) -> Client {
    allow_session_viewers(&mut db.dba(), app);
    let mut c = db.connect_as(app);
    c.batch_execute(&format!("SET sharing.viewer = '{viewer}'"))
        .unwrap();
    c
}

/// The first column of every row, as ids.
pub fn ids(c: &mut Client, sql: &str) -> Vec<i64> {
    c.query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A small two-company org with a protected `deals` table (owners 1..5, 200 deals),
/// for the operations and upgrade tests.
pub const SMALL_ORG: &str = "
INSERT INTO sharing.object_types (name) VALUES ('deals');
SELECT sharing.create_company('Acme'); SELECT sharing.create_company('Globex');
INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES
  (100, 1, 'Lead', 2, 3), (101, 1, 'Rep', 100, 3);
INSERT INTO sharing.users (id, company_id, name) VALUES (1, 1, 'admin'), (2, 1, 'lead'), (3, 1, 'rep'), (4, 1, 'rep2'), (5, 2, 'partner');
INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1, 1), (2, 100), (3, 101), (4, 101);
INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (101, 'app.insight');
INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role) VALUES (1, 'deals', 101, 101);
INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES (1, 2);
INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES (1, 'deals', 'view');
CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint, amount int);
SELECT sharing.protect('deals', 'deals');
INSERT INTO deals SELECT g, 1 + g % 5, CASE WHEN g % 5 = 4 THEN 2 ELSE 1 END, g FROM generate_series(1, 200) g;
";

/// Every decision for every (viewer, owner, action) on `deals`, as one string.
pub fn all_decisions(c: &mut Client) -> String {
    one_str(
        c,
        "SELECT string_agg(format('%s/%s/%s=%s', v.id, o.id, a, sharing.can_access('deals', a, o.id, o.company_id, v.id)), ' '
                           ORDER BY v.id, o.id, a)
           FROM sharing.users v, sharing.users o, unnest(ARRAY['create','view','edit','delete']) a",
    )
}

/// A client program of the server's version: from `PG_BIN` (scripts/test.sh sets it
/// from PG_MAJOR, scripts/pg-env.sh), else Debian's directory of PG_MAJOR (15).
pub fn pg_bin(program: &str) -> String {
    let dir = std::env::var("PG_BIN").unwrap_or_else(|_| {
        let major = std::env::var("PG_MAJOR").unwrap_or_else(|_| "15".into());
        format!("/usr/lib/postgresql/{major}/bin")
    });
    format!("{dir}/{program}")
}

/// PostgreSQL 15 or later (security_invoker views, MERGE)?
pub fn pg15_or_later(c: &mut Client) -> bool {
    let v: String = c.query_one("SHOW server_version_num", &[]).unwrap().get(0);
    v.parse::<i32>().unwrap_or(0) >= 150000
}

/// The view option that makes a view check permissions as its caller (15+), or a
/// harmless one before (the tests then own such views by the application role).
pub fn invoker_option(c: &mut Client) -> &'static str {
    if pg15_or_later(c) {
        "security_invoker = true"
    } else {
        "check_option = local"
    }
}

//! Exports inherit visibility (docs/integration.md §4; Insightly: "reports, export
//! and mass email" follow the viewer's access): the paths people use to take rows
//! out of PostgreSQL, tried as a mapped login would, each showing exactly the
//! viewer's rows — and pg_dump refusing, rather than silently dumping nothing or
//! everything, when row level security is not enabled for it.
//!
//! Uses the client programs of the server's version (`pg_dump`, `psql`), found in
//! `PG_BIN` or PostgreSQL's default directory.

mod common;
use common::*;
use postgres::Client;
use std::io::Read;
use std::process::Command;

fn port() -> String {
    std::env::var("PG_SHARING_TEST_PORT").expect("PG_SHARING_TEST_PORT")
}

/// Run a client program as `login` on `db`; (success, stdout, stderr).
fn run(program: &str, login: &str, db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(pg_bin(program))
        .args(["-h", "127.0.0.1", "-p", &port(), "-U", login, "-d", db])
        .args(args)
        .env("PGOPTIONS", "")
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The ids of the data lines of a `COPY deals … FROM stdin;` block of a dump.
fn dumped_ids(dump: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut inside = false;
    for line in dump.lines() {
        if line.starts_with("COPY public.deals ") {
            inside = true;
        } else if inside && line == "\\." {
            inside = false;
        } else if inside {
            ids.push(line.split('\t').next().unwrap().parse().unwrap());
        }
    }
    ids.sort_unstable();
    ids
}

/// The deals `viewer` may see, decided by the DBA with `can_access`.
fn expected(dba: &mut Client, viewer: i64) -> Vec<i64> {
    ids(
        dba,
        &format!(
            "SELECT id FROM deals WHERE sharing.can_access('deals', 'view', owner_id, company_id, {viewer}) ORDER BY id"
        ),
    )
}

/// The Insightly org with logins mapped to ed (5, a salesperson), eve (3, the East
/// manager) and dan (2, the director), each with SELECT on deals — as
/// docs/integration.md §4 tells analysts to be set up.
fn analysts(db: &mut TestDb) -> (Client, Vec<(i64, String)>) {
    let (mut dba, _app) = insightly(db);
    let logins = [5, 3, 2]
        .iter()
        .map(|&u| {
            let login = db.login(&format!("bi{u}"));
            dba.batch_execute(&format!(
                "UPDATE sharing.users SET db_role = '{login}' WHERE id = {u}; GRANT SELECT ON deals TO {login};"
            ))
            .unwrap();
            (u, login)
        })
        .collect();
    (dba, logins)
}

#[test]
fn insightly_pg_dump_needs_enable_row_security_and_then_dumps_the_viewers_rows() {
    let mut db = TestDb::new("expdump");
    let (mut dba, logins) = analysts(&mut db);
    for (user, login) in &logins {
        // Without --enable-row-security pg_dump turns row security off, which a
        // protected table refuses instead of dumping rows the login may not see.
        let (ok, _, err) = run("pg_dump", login, &db.name, &["--data-only", "-t", "deals"]);
        assert!(
            !ok,
            "pg_dump without --enable-row-security succeeded for {login}"
        );
        assert!(
            err.contains(
                "query would be affected by row-level security policy for table \"deals\""
            ),
            "{err}"
        );
        let (ok, out, err) = run(
            "pg_dump",
            login,
            &db.name,
            &["--data-only", "--enable-row-security", "-t", "deals"],
        );
        assert!(ok, "{err}");
        assert_eq!(dumped_ids(&out), expected(&mut dba, *user), "user {user}");
    }
}

#[test]
fn insightly_psql_copy_and_copy_to_show_the_viewers_rows() {
    let mut db = TestDb::new("expcopy");
    let (mut dba, logins) = analysts(&mut db);
    for (user, login) in &logins {
        let want = expected(&mut dba, *user);
        // psql's \copy of a query and of the table itself (COPY table TO under row
        // level security is run as a query of the table, policies applied).
        for command in [
            "\\copy (SELECT id FROM deals ORDER BY id) TO STDOUT",
            "\\copy deals (id) TO STDOUT",
        ] {
            let (ok, out, err) = run("psql", login, &db.name, &["-X", "-q", "-c", command]);
            assert!(ok, "{command}: {err}");
            let mut got: Vec<i64> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
            got.sort_unstable();
            assert_eq!(got, want, "{command} as user {user}");
        }
        // COPY (SELECT …) TO STDOUT from a client library.
        let mut c = db.connect_as(login);
        let mut text = String::new();
        c.copy_out("COPY (SELECT id FROM deals ORDER BY id) TO STDOUT")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let got: Vec<i64> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(got, want, "COPY TO as user {user}");
    }
}

#[test]
fn insightly_a_security_invoker_view_shows_each_bi_login_its_rows() {
    let mut db = TestDb::new("expview");
    let (mut dba, logins) = analysts(&mut db);
    let names: Vec<&str> = logins.iter().map(|(_, l)| l.as_str()).collect();
    dba.batch_execute(&format!(
        "CREATE VIEW deal_report WITH (security_invoker = true) AS
           SELECT id, owner_id, amount FROM deals;
         GRANT SELECT ON deal_report TO {};",
        names.join(", ")
    ))
    .unwrap();
    for (user, login) in &logins {
        let mut c = db.connect_as(login);
        assert_eq!(
            ids(&mut c, "SELECT id FROM deal_report ORDER BY id"),
            expected(&mut dba, *user),
            "user {user}"
        );
    }
    // The BI tool's usual summary: one row per visible owner.
    let mut eve = db.connect_as(&logins[1].1);
    assert_eq!(
        ids(
            &mut eve,
            "SELECT owner_id FROM deal_report GROUP BY owner_id ORDER BY owner_id"
        ),
        vec![3, 5, 6]
    );
}

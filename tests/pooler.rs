//! A real PgBouncer in transaction mode in front of the test cluster, with one server
//! connection for every client (docs/integration.md §2): viewers set with SET LOCAL
//! stay with their transaction, a forgotten SET LOCAL shows nothing, and a
//! session-level SET by the application role is refused instead of serving the next
//! client of the same server connection.
//!
//! Needs `pgbouncer` (installed by scripts/setup.sh).

mod common;
use common::*;
use postgres::{Client, NoTls, SimpleQueryMessage};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

/// A running pgbouncer, stopped when dropped (also when the test panics).
struct Bouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Bouncer {
    /// pgbouncer for database `db` of the test cluster: transaction pooling, one
    /// server connection per (database, user), trust authentication. It refuses to
    /// run as root, so as root it runs as the `postgres` OS user, with its files in a
    /// directory owned by that user.
    fn start(db: &str, users: &[&str]) -> Bouncer {
        assert!(
            Path::new(PGBOUNCER).exists(),
            "{PGBOUNCER} is missing: run scripts/setup.sh, which installs the Debian package pgbouncer"
        );
        let pg_port = std::env::var("PG_SHARING_TEST_PORT")
            .expect("PG_SHARING_TEST_PORT is not set: run the tests with scripts/test.sh");
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "pg_sharing_pgbouncer_{}_{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the pgbouncer directory");
        let d = dir.display();
        let userlist: String = users.iter().map(|u| format!("\"{u}\" \"\"\n")).collect();
        std::fs::write(dir.join("userlist.txt"), userlist).unwrap();
        std::fs::write(
            dir.join("pgbouncer.ini"),
            format!(
                "[databases]
{db} = host=127.0.0.1 port={pg_port} dbname={db}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {d}/userlist.txt
pool_mode = transaction
default_pool_size = 1
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 100
max_db_connections = 1
ignore_startup_parameters = extra_float_digits
logfile = {d}/pgbouncer.log
pidfile = {d}/pgbouncer.pid
"
            ),
        )
        .unwrap();
        let root = running_as_root();
        let mut command = if root {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown {d} to postgres");
            let mut c = Command::new("sudo");
            c.args(["-u", "postgres", PGBOUNCER]);
            c
        } else {
            Command::new(PGBOUNCER)
        };
        let child = command
            .arg(dir.join("pgbouncer.ini"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        let mut bouncer = Bouncer { child, dir, port };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = bouncer.child.try_wait() {
                panic!("pgbouncer exited ({status}):\n{}", bouncer.log());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "pgbouncer did not listen on {port}:\n{}",
                bouncer.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }

    fn connect(&self, db: &str, user: &str) -> Client {
        let url = format!("host=127.0.0.1 port={} user={user} dbname={db}", self.port);
        Client::connect(&url, NoTls)
            .unwrap_or_else(|e| panic!("connect {url}: {e}\n{}", self.log()))
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        // SIGTERM (sudo passes it on): immediate shutdown.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Still there: kill pgbouncer itself (its pid file), then sudo.
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pgbouncer.pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The ids of the last result of a simple-protocol batch (no prepared statements:
/// they would not survive a transaction pooler), or the database error.
fn ids_of(c: &mut Client, sql: &str) -> Result<Vec<i64>, postgres::Error> {
    let mut out = Vec::new();
    for m in c.simple_query(sql)? {
        if let SimpleQueryMessage::Row(r) = m {
            out.push(r.get(0).expect("an id").parse().expect("a number"));
        }
    }
    Ok(out)
}

fn sqlstate(e: &postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// One setting as the server connection behind `c` has it now.
fn show(c: &mut Client, name: &str) -> String {
    c.simple_query(&format!("SHOW {name}"))
        .unwrap()
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn pgbouncer_in_transaction_mode_never_carries_a_viewer_to_the_next_client() {
    let mut db = TestDb::new("pooler");
    let (mut dba, app) = insightly(&mut db);
    let expected: Vec<Vec<i64>> = (0..=8)
        .map(|v| {
            ids(
                &mut dba,
                &format!("SELECT id FROM deals WHERE sharing.can_access('deals', 'view', owner_id, company_id, {v}) ORDER BY id"),
            )
        })
        .collect();
    let all = ids(&mut dba, "SELECT id FROM deals ORDER BY id");
    assert_eq!(
        expected[1], all,
        "user 1 (the administrator) sees every deal"
    );
    assert!(expected[5].len() < all.len());

    let bouncer = Bouncer::start(&db.name, &[&app]);
    let name = db.name.clone();

    // Many clients over the one server connection: each transaction sees exactly
    // its viewer's rows; a client that forgets SET LOCAL sees nothing.
    std::thread::scope(|s| {
        for t in 0..16i64 {
            let (bouncer, name, app, expected) = (&bouncer, &name, &app, &expected);
            s.spawn(move || {
                let mut c = bouncer.connect(name, app);
                for i in 0..15i64 {
                    let v = 1 + (t + i) % 7;
                    let got = ids_of(
                        &mut c,
                        &format!(
                            "BEGIN; SET LOCAL sharing.viewer = '{v}'; SELECT id FROM deals ORDER BY id; COMMIT"
                        ),
                    )
                    .unwrap_or_else(|e| panic!("client {t}, viewer {v}: {e}"));
                    assert_eq!(got, expected[v as usize], "client {t}, viewer {v}");
                    if i % 4 == t % 4 {
                        let forgot = ids_of(&mut c, "SELECT id FROM deals")
                            .unwrap_or_else(|e| panic!("client {t} without viewer: {e}"));
                        assert!(forgot.is_empty(), "client {t} without a viewer saw {forgot:?}");
                    }
                }
            });
        }
    });

    // A client sets the viewer at session level: the setting stays on the server
    // connection, and its own protected statement is refused.
    let mut careless = bouncer.connect(&name, &app);
    careless.simple_query("SET sharing.viewer = '1'").unwrap();
    let err = ids_of(&mut careless, "SELECT id FROM deals")
        .expect_err("a session-level viewer was honoured");
    assert_eq!(sqlstate(&err), "42501", "{err}");
    drop(careless);

    // The next clients get that same server connection (there is only one): it
    // still carries viewer 1, and they are never served viewer 1's rows.
    for i in 0..5 {
        let mut next = bouncer.connect(&name, &app);
        assert_eq!(
            show(&mut next, "sharing.viewer"),
            "1",
            "the same server connection"
        );
        match ids_of(&mut next, "SELECT id FROM deals ORDER BY id") {
            Ok(rows) => assert!(
                rows.is_empty(),
                "client {i} was served viewer 1's rows: {rows:?}"
            ),
            Err(e) => assert_eq!(sqlstate(&e), "42501", "client {i}: {e}"),
        }
        match ids_of(&mut next, "BEGIN; SELECT id FROM deals ORDER BY id; COMMIT") {
            Ok(rows) => assert!(
                rows.is_empty(),
                "client {i} was served viewer 1's rows: {rows:?}"
            ),
            Err(e) => {
                assert_eq!(sqlstate(&e), "42501", "client {i}: {e}");
                next.simple_query("ROLLBACK").unwrap();
            }
        }
        // A well-behaved client on that connection still gets its own viewer.
        let own = ids_of(
            &mut next,
            "BEGIN; SET LOCAL sharing.viewer = '5'; SELECT id FROM deals ORDER BY id; COMMIT",
        )
        .unwrap();
        assert_eq!(own, expected[5], "client {i} with SET LOCAL");
    }
    drop(bouncer);
}

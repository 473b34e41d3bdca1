//! Record shares (sql/shares.sql, src/model/shares.rs, SPEC §9) through real RLS:
//! who a share reaches and for what, its period, who may share and unshare,
//! participants, id column types, `who_can_access` against `can_access` and the
//! policies, explanations, attacks with the documented grants, and the audit log.

mod common;
use common::*;
use postgres::{Client, Transaction};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Two companies. Acme (1): standard roles 1 Administrator, 2 Manager, 3 User;
/// 10 Sales Director > 11 East Manager > 13 East Rep > 15 East Junior > 18 Intern,
/// 10 > 12 West Manager > 14 West Rep; 16 Sharing Desk (manage_sharing) and
/// 17 Auditor under the Administrator. Custom roles have the User's levels (owned),
/// the Intern none. Rules: East Rep's deals are readable by the Sharing Desk and
/// the Auditor. Users: 1 ada (admin), 2 dan, 3 eve, 4 wes, 5 ed, 6 em, 7 will,
/// 8 jo, 9 rita (auditor), 10 desk, 11 ivan (intern), 12 gone (disabled East Rep).
/// Globex (2): 20 gil (admin), 21 gus (User). An agreement 1 → 2 for deals/view.
/// Tables: `deals` (bigint id = owner id), `projects` (integer id, participants
/// `team bigint[]`), `accounts` (uuid id, org-wide default public_read).
const ORG: &str = "
INSERT INTO sharing.object_types (name) VALUES ('deals'), ('projects');
INSERT INTO sharing.object_types (name, org_wide_default) VALUES ('accounts', 'public_read');
SELECT sharing.create_company('Acme'); SELECT sharing.create_company('Globex');
INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES
  (10, 1, 'Sales Director', 1, 3),
  (11, 1, 'East Manager', 10, 3),
  (12, 1, 'West Manager', 10, 3),
  (13, 1, 'East Rep', 11, 3),
  (14, 1, 'West Rep', 12, 3),
  (15, 1, 'East Junior', 13, 3),
  (16, 1, 'Sharing Desk', 1, 3),
  (17, 1, 'Auditor', 1, 3),
  (18, 1, 'Intern', 15, NULL);
INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (16, 'manage_sharing');
INSERT INTO sharing.users (id, company_id, name) VALUES
  (1, 1, 'ada'), (2, 1, 'dan'), (3, 1, 'eve'), (4, 1, 'wes'), (5, 1, 'ed'), (6, 1, 'em'),
  (7, 1, 'will'), (8, 1, 'jo'), (9, 1, 'rita'), (10, 1, 'desk'), (11, 1, 'ivan'), (12, 1, 'gone'),
  (20, 2, 'gil'), (21, 2, 'gus');
INSERT INTO sharing.user_roles (user_id, role_id) VALUES
  (1, 1), (2, 10), (3, 11), (4, 12), (5, 13), (6, 13), (7, 14), (8, 15), (9, 17), (10, 16),
  (11, 18), (12, 13), (20, 4);
DELETE FROM sharing.user_roles WHERE role_id = 3 AND user_id <> 21;
UPDATE sharing.users SET status = 'disabled' WHERE id = 12;
INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, target_role, access) VALUES
  (1, 'deals', 13, 16, 'read'), (1, 'deals', 13, 17, 'read');
INSERT INTO sharing.agreements (grantor_company, grantee_company) VALUES (1, 2);
INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES (1, 'deals', 'view');
CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint, amount int);
SELECT sharing.protect('deals', 'deals');
INSERT INTO deals SELECT u.id, u.id, u.company_id, 100 * u.id FROM sharing.users u;
CREATE TABLE projects (id integer PRIMARY KEY, owner_id bigint, company_id bigint, team bigint[], name text);
SELECT sharing.protect('projects', 'projects', assignee_column => 'team');
INSERT INTO projects VALUES
  (1, 7, 1, '{5}', 'will with ed'), (2, 7, 1, '{11}', 'will with ivan'), (3, 4, 1, '{}', 'wes alone'),
  (4, 21, 2, '{20}', 'globex'), (5, 5, 1, '{7,8}', 'ed with will and jo'), (6, 9, 1, NULL, 'rita alone');
CREATE TABLE accounts (id uuid PRIMARY KEY, owner_id bigint, company_id bigint, name text);
SELECT sharing.protect('accounts', 'accounts');
INSERT INTO accounts VALUES
  ('00000000-0000-0000-0000-000000000001', 5, 1, 'of ed'),
  ('00000000-0000-0000-0000-000000000002', 7, 1, 'of will'),
  ('00000000-0000-0000-0000-000000000003', 21, 2, 'of gus');
";

const ACC1: &str = "'00000000-0000-0000-0000-000000000001'::uuid";
const ACC2: &str = "'00000000-0000-0000-0000-000000000002'::uuid";

/// Every user of the fixture.
const USERS: [i64; 14] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 20, 21];

/// The fixture, and a trusted application role (documented grants) that sets the
/// viewer per transaction with `SET LOCAL`, connected.
fn org(db: &mut TestDb) -> (Client, Client) {
    let app = db.login("app");
    let mut dba = db.dba();
    dba.batch_execute(ORG).unwrap();
    dba.batch_execute(&format!(
        "INSERT INTO sharing.trusted_app_roles VALUES ('{app}');
         GRANT SELECT, INSERT, UPDATE, DELETE ON deals, projects, accounts TO {app};"
    ))
    .unwrap();
    let c = db.connect_as(&app);
    (dba, c)
}

/// A login mapped to `user` (users.db_role), with the documented grants and DML on
/// the protected tables.
fn mapped(db: &mut TestDb, dba: &mut Client, user: i64) -> Client {
    let login = db.login(&format!("u{user}"));
    dba.batch_execute(&format!(
        "UPDATE sharing.users SET db_role = '{login}' WHERE id = {user};
         GRANT SELECT, INSERT, UPDATE, DELETE ON deals, projects, accounts TO {login};"
    ))
    .unwrap();
    db.connect_as(&login)
}

fn begin_as(c: &mut Client, viewer: i64) -> Transaction<'_> {
    let mut t = c.transaction().unwrap();
    t.batch_execute(&format!("SET LOCAL sharing.viewer = '{viewer}'"))
        .unwrap();
    t
}

/// The first column (bigint) of `sql` as `viewer`, in a transaction of its own.
#[track_caller]
fn ids_as(c: &mut Client, viewer: i64, sql: &str) -> Vec<i64> {
    let mut t = begin_as(c, viewer);
    t.query(sql, &[])
        .unwrap_or_else(|e| panic!("viewer {viewer}: {sql}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The deals `viewer` sees.
fn deals_of(c: &mut Client, viewer: i64) -> Vec<i64> {
    ids_as(c, viewer, "SELECT id FROM deals ORDER BY id")
}

/// Run `sql` as `viewer` and commit; the number of rows of its last statement.
#[track_caller]
fn exec_as(c: &mut Client, viewer: i64, sql: &str) -> u64 {
    let mut t = begin_as(c, viewer);
    let n = t
        .execute(sql, &[])
        .unwrap_or_else(|e| panic!("viewer {viewer}: {sql}: {e}"));
    t.commit().unwrap();
    n
}

/// One bigint as `viewer` (committed: for the helpers that share).
#[track_caller]
fn i64_as(c: &mut Client, viewer: i64, sql: &str) -> i64 {
    let mut t = begin_as(c, viewer);
    let v: i64 = t
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("viewer {viewer}: {sql}: {e}"))
        .get(0);
    t.commit().unwrap();
    v
}

/// Rows written by `sql` as `viewer`, rolled back.
#[track_caller]
fn touched_as(c: &mut Client, viewer: i64, sql: &str) -> u64 {
    let mut t = begin_as(c, viewer);
    t.execute(sql, &[])
        .unwrap_or_else(|e| panic!("viewer {viewer}: {sql}: {e}"))
}

/// `sql` as `viewer` must fail with `sqlstate`; the message.
#[track_caller]
fn fails_as(c: &mut Client, viewer: i64, sql: &str, sqlstate: &str) -> String {
    let mut t = begin_as(c, viewer);
    expect_error_tx(&mut t, sql, sqlstate)
}

#[track_caller]
fn expect_error_tx(t: &mut Transaction<'_>, sql: &str, sqlstate: &str) -> String {
    match t.batch_execute(sql) {
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
            db.message().to_string()
        }
    }
}

/// The shares, as text, as the DBA sees them.
fn shares(dba: &mut Client) -> String {
    one_str(
        dba,
        "SELECT coalesce(string_agg(format('%s:%s/%s u%s r%s %s %s by %s', id, object_type, record_id, user_id,
                                           role_id, scope, access, granted_by), '; ' ORDER BY id), '')
           FROM sharing.record_shares",
    )
}

#[test]
fn a_user_share_opens_view_and_edit_never_delete() {
    let mut db = TestDb::new("shuser");
    let (mut dba, mut c) = org(&mut db);
    assert_eq!(deals_of(&mut c, 7), vec![7]);
    assert_eq!(deals_of(&mut c, 6), vec![6, 8, 11]);
    // ed (owner of deal 5) shares it: read with will, read_write with em.
    let s1 = i64_as(&mut c, 5, "SELECT sharing.share_record('deals', 5, 7)");
    let s2 = i64_as(
        &mut c,
        5,
        "SELECT sharing.share_record('deals', 5, 6, 'read_write')",
    );
    assert_eq!(
        shares(&mut dba),
        format!("{s1}:deals/5 u7 r  read by 5; {s2}:deals/5 u6 r  read_write by 5")
    );
    assert_eq!(deals_of(&mut c, 7), vec![5, 7]);
    assert_eq!(deals_of(&mut c, 6), vec![5, 6, 8, 11]);
    // Nobody else gains anything (wes and jo: no path to deal 5).
    assert_eq!(deals_of(&mut c, 4), vec![4, 7]);
    assert_eq!(deals_of(&mut c, 8), vec![8, 11]);
    // read: no UPDATE, no DELETE.
    assert_eq!(
        touched_as(&mut c, 7, "UPDATE deals SET amount = 1 WHERE id = 5"),
        0
    );
    assert_eq!(touched_as(&mut c, 7, "DELETE FROM deals WHERE id = 5"), 0);
    // read_write: UPDATE yes, DELETE no.
    assert_eq!(
        exec_as(&mut c, 6, "UPDATE deals SET amount = 1 WHERE id = 5"),
        1
    );
    assert_eq!(exec_as(&mut c, 6, "DELETE FROM deals WHERE id = 5"), 0);
    assert_eq!(
        one_i64(&mut dba, "SELECT amount::bigint FROM deals WHERE id = 5"),
        1
    );
    // The record forms of can_access agree.
    for (viewer, action, expect) in [
        (7, "view", true),
        (7, "edit", false),
        (7, "delete", false),
        (6, "view", true),
        (6, "edit", true),
        (6, "delete", false),
        (6, "create", false),
        (4, "view", false),
    ] {
        assert_eq!(
            one_bool(
                &mut dba,
                &format!("SELECT sharing.can_access('deals', 5::bigint, '{action}', {viewer})")
            ),
            expect,
            "viewer {viewer} {action}"
        );
    }
    // A share never gives anything to someone with level none (ivan), nor to a
    // disabled user (gone).
    exec_as(&mut c, 1, "SELECT sharing.share_record('deals', 5, 11)");
    exec_as(&mut c, 1, "SELECT sharing.share_record('deals', 5, 12)");
    assert_eq!(deals_of(&mut c, 11), Vec::<i64>::new());
    assert!(!one_bool(
        &mut dba,
        "SELECT sharing.can_access('deals', 5::bigint, 'view', 11)"
    ));
    assert!(!one_bool(
        &mut dba,
        "SELECT sharing.can_access('deals', 5::bigint, 'view', 12)"
    ));
    // An updated row stays editable only while the share says so (WITH CHECK):
    // a grantee cannot move the record to another owner (a transfer) through it.
    fails_as(
        &mut c,
        6,
        "UPDATE deals SET owner_id = 6 WHERE id = 5",
        "42501",
    );
}

#[test]
fn a_share_lives_from_valid_from_until_valid_until() {
    let mut db = TestDb::new("shperiod");
    let (mut dba, mut c) = org(&mut db);
    // Ended an hour ago; starts in an hour; ends in an hour (live).
    dba.batch_execute(
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id, valid_from, valid_until) VALUES
           ('deals', '5', 7, now() - interval '2 hours', now() - interval '1 hour'),
           ('deals', '6', 7, now() + interval '1 hour', NULL),
           ('deals', '2', 7, now() - interval '2 hours', now() + interval '1 hour')",
    )
    .unwrap();
    assert_eq!(deals_of(&mut c, 7), vec![2, 7]);
    // A share that ends a moment from now counts, then no longer, with no job.
    exec_as(
        &mut c,
        5,
        "SELECT sharing.share_record('deals', 5, 8, 'read', clock_timestamp() + interval '1 second')",
    );
    assert_eq!(deals_of(&mut c, 8), vec![5, 8, 11]);
    std::thread::sleep(std::time::Duration::from_millis(1300));
    assert_eq!(deals_of(&mut c, 8), vec![8, 11]);
    assert!(!one_bool(
        &mut dba,
        "SELECT sharing.can_access('deals', 5::bigint, 'view', 8)"
    ));

    // The edge: a share ending exactly at the transaction's start (now()) is not
    // live in that transaction; one microsecond later it is. Judged once per
    // transaction: a share changed by another session is seen at the next statement.
    let id = one_i64(
        &mut dba,
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id, valid_from)
         VALUES ('deals', '3', 6, now() - interval '1 hour') RETURNING id",
    );
    let mut t = begin_as(&mut c, 6);
    let start: std::time::SystemTime = t.query_one("SELECT now()", &[]).unwrap().get(0);
    let seen = |t: &mut Transaction<'_>| -> Vec<i64> {
        t.query("SELECT id FROM deals ORDER BY id", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    assert_eq!(seen(&mut t), vec![3, 6, 8, 11]);
    dba.execute(
        "UPDATE sharing.record_shares SET valid_until = $1 WHERE id = $2",
        &[&start, &id],
    )
    .unwrap();
    assert_eq!(
        seen(&mut t),
        vec![6, 8, 11],
        "valid_until = now() is not live"
    );
    assert!(!t
        .query_one(
            "SELECT sharing.can_access('deals', 3::bigint, 'view', 6)",
            &[]
        )
        .unwrap()
        .get::<_, bool>(0));
    dba.execute(
        "UPDATE sharing.record_shares SET valid_until = $1::timestamptz + interval '1 microsecond' WHERE id = $2",
        &[&start, &id],
    )
    .unwrap();
    assert_eq!(
        seen(&mut t),
        vec![3, 6, 8, 11],
        "valid_until > now() is live"
    );
    // valid_from = now() is live; valid_from one microsecond later is not.
    dba.execute(
        "UPDATE sharing.record_shares SET valid_until = NULL, valid_from = $1 WHERE id = $2",
        &[&start, &id],
    )
    .unwrap();
    assert_eq!(
        seen(&mut t),
        vec![3, 6, 8, 11],
        "valid_from = now() is live"
    );
    dba.execute(
        "UPDATE sharing.record_shares SET valid_from = $1::timestamptz + interval '1 microsecond' WHERE id = $2",
        &[&start, &id],
    )
    .unwrap();
    assert_eq!(
        seen(&mut t),
        vec![6, 8, 11],
        "valid_from > now() is not live"
    );
    drop(t);

    // purge_expired_shares: only the ended ones; a viewer purges only with
    // manage_sharing, and only their own company's.
    dba.batch_execute(
        "UPDATE sharing.record_shares SET valid_from = now() - interval '1 hour', valid_until = NULL WHERE id = $$ID$$"
            .replace("$$ID$$", &id.to_string())
            .as_str(),
    )
    .unwrap();
    dba.batch_execute(
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id, valid_from, valid_until) VALUES
           ('deals', '20', 21, now() - interval '2 hours', now() - interval '1 hour')",
    )
    .unwrap();
    let before = one_str(
        &mut dba,
        "SELECT string_agg(record_id || '>' || user_id, ' ' ORDER BY id) FROM sharing.record_shares",
    );
    assert_eq!(before, "5>7 6>7 2>7 5>8 3>6 20>21");
    fails_as(&mut c, 5, "SELECT sharing.purge_expired_shares()", "42501");
    assert_eq!(
        i64_as(&mut c, 10, "SELECT sharing.purge_expired_shares()"),
        2
    );
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT string_agg(record_id || '>' || user_id, ' ' ORDER BY id) FROM sharing.record_shares"
        ),
        "6>7 2>7 3>6 20>21"
    );
    assert_eq!(
        one_i64(&mut dba, "SELECT sharing.purge_expired_shares()"),
        1
    );
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT string_agg(record_id || '>' || user_id, ' ' ORDER BY id) FROM sharing.record_shares"
        ),
        "6>7 2>7 3>6"
    );
}

#[test]
fn a_share_survives_a_change_of_owner() {
    let mut db = TestDb::new("showner");
    let (mut dba, mut c) = org(&mut db);
    exec_as(&mut c, 5, "SELECT sharing.share_record('deals', 5, 7)");
    assert_eq!(deals_of(&mut c, 7), vec![5, 7]);
    // The owner hands the deal to jo (below them) ...
    assert_eq!(
        exec_as(&mut c, 5, "UPDATE deals SET owner_id = 8 WHERE id = 5"),
        1
    );
    assert_eq!(deals_of(&mut c, 7), vec![5, 7]);
    // ... and their manager hands it to em.
    assert_eq!(
        exec_as(&mut c, 3, "UPDATE deals SET owner_id = 6 WHERE id = 5"),
        1
    );
    assert_eq!(
        one_i64(&mut dba, "SELECT owner_id FROM deals WHERE id = 5"),
        6
    );
    assert_eq!(deals_of(&mut c, 7), vec![5, 7]);
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT reason FROM sharing.who_can_access('deals', 5::bigint) WHERE user_id = 7"
        ),
        "record_share"
    );
    // The former owner keeps nothing of it (ed is em's peer).
    assert_eq!(deals_of(&mut c, 5), vec![8, 11]);
}

/// Which types have shares is cached per backend on what only share writers move
/// (docs/design.md, "Record shares"): a change of people keeps the answer, a share
/// written or taken back in another session is seen at the next statement, and a
/// share that exists stays seen across changes of people.
#[test]
fn a_session_sees_shares_come_and_go_across_changes_of_people() {
    let mut db = TestDb::new("shgen");
    let (mut dba, mut c) = org(&mut db);
    let app2 = db.login("app2");
    dba.batch_execute(&format!(
        "INSERT INTO sharing.trusted_app_roles VALUES ('{app2}');
         GRANT SELECT ON deals TO {app2};
         INSERT INTO deals VALUES (30, 30, 1, 3000);"
    ))
    .unwrap();
    let mut other = db.connect_as(&app2);
    // No share of deals yet: the session caches that.
    assert_eq!(deals_of(&mut c, 7), vec![7]);
    // A change of people (a new user) leaves the shares as they were.
    dba.batch_execute("INSERT INTO sharing.users (id, company_id, name) VALUES (30, 1, 'new')")
        .unwrap();
    assert_eq!(deals_of(&mut c, 7), vec![7]);
    // Another session shares deal 5 with will: seen at the next statement.
    let share = i64_as(&mut other, 5, "SELECT sharing.share_record('deals', 5, 7)");
    assert_eq!(deals_of(&mut c, 7), vec![5, 7]);
    // More changes of people (a membership, a user): the share stays seen.
    dba.batch_execute(
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (30, 14);
         INSERT INTO sharing.users (id, company_id, name) VALUES (31, 1, 'newer')",
    )
    .unwrap();
    assert_eq!(deals_of(&mut c, 7), vec![5, 7]);
    assert_eq!(deals_of(&mut c, 4), vec![4, 7, 30]);
    // Taken back in the other session: gone at the next statement, and stays gone
    // after another change of people.
    exec_as(
        &mut other,
        5,
        &format!("SELECT sharing.unshare_record({share})"),
    );
    assert_eq!(deals_of(&mut c, 7), vec![7]);
    dba.batch_execute("DELETE FROM sharing.user_roles WHERE user_id = 30 AND role_id = 14")
        .unwrap();
    assert_eq!(deals_of(&mut c, 7), vec![7]);
    assert_eq!(deals_of(&mut c, 4), vec![4, 7]);
}

/// A backend keeps the shares it read for a viewer while the share generation
/// stays; a rolled-back transaction's generation comes back in the next transaction
/// (a counter moved by `+ 1`), at the same command ids when the statements are the
/// same. What that transaction read with its own, rolled-back share must not serve
/// the next one (the cache is keyed on the writing transaction too).
#[test]
fn attack_a_rolled_back_share_read_again_by_the_next_transaction() {
    let mut db = TestDb::new("shrollback");
    let (_dba, mut c) = org(&mut db);
    // em shares deal 6 with will, reads as will (who sees it), and rolls back; then
    // the same statements, the share to wes instead: will must not see deal 6.
    for (grantee, expected) in [(7, vec![6, 7]), (4, vec![7])] {
        let mut t = c.transaction().unwrap();
        t.batch_execute(&format!(
            "SET LOCAL sharing.viewer = '6';
             SELECT sharing.share_record('deals', 6, {grantee});
             SET LOCAL sharing.viewer = '7';"
        ))
        .unwrap();
        let seen: Vec<i64> = t
            .query("SELECT id FROM deals ORDER BY id", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(seen, expected, "share to {grantee}, read as will");
        t.rollback().unwrap();
    }
    assert_eq!(deals_of(&mut c, 7), vec![7]);
}

#[test]
fn who_may_share_what() {
    let mut db = TestDb::new("shwho");
    let (mut dba, mut c) = org(&mut db);
    // will cannot see deal 5: reported as missing, like a deal that does not exist.
    let hidden = fails_as(
        &mut c,
        7,
        "SELECT sharing.share_record('deals', 5, 4)",
        "P0002",
    );
    let missing = fails_as(
        &mut c,
        7,
        "SELECT sharing.share_record('deals', 999, 4)",
        "P0002",
    );
    assert_eq!(hidden.replace("record 5 ", "record 999 "), missing);
    // rita sees deal 5 through a read rule but cannot edit it: no share at all.
    for access in ["read", "read_write"] {
        let msg = fails_as(
            &mut c,
            9,
            &format!("SELECT sharing.share_record('deals', 5, 4, '{access}')"),
            "42501",
        );
        assert!(msg.contains("cannot edit"), "{msg}");
    }
    // desk sees it the same way and holds manage_sharing: read yes, read_write no.
    fails_as(
        &mut c,
        10,
        "SELECT sharing.share_record('deals', 5, 4, 'read_write')",
        "42501",
    );
    fails_as(
        &mut c,
        10,
        "SELECT sharing.share_record_with_role('deals', 5, 14, 'role', 'read_write')",
        "42501",
    );
    let s = i64_as(&mut c, 10, "SELECT sharing.share_record('deals', 5, 4)");
    assert_eq!(deals_of(&mut c, 4), vec![4, 5, 7]);
    // desk cannot share what they cannot see (will's deal), manage_sharing or not.
    fails_as(
        &mut c,
        10,
        "SELECT sharing.share_record('deals', 7, 4)",
        "P0002",
    );
    // A share gives access, not the right to share: neither a read nor a
    // read_write grantee may share further, nor extend their own share.
    fails_as(
        &mut c,
        4,
        "SELECT sharing.share_record('deals', 5, 7)",
        "42501",
    );
    let rw = i64_as(
        &mut c,
        5,
        "SELECT sharing.share_record('deals', 5, 7, 'read_write', now() + interval '1 day')",
    );
    fails_as(
        &mut c,
        7,
        "SELECT sharing.share_record('deals', 5, 8, 'read_write')",
        "42501",
    );
    fails_as(
        &mut c,
        7,
        &format!("UPDATE sharing.record_shares SET valid_until = NULL WHERE id = {rw}"),
        "42501",
    );
    assert_eq!(
        touched_as(&mut c, 7, "UPDATE deals SET amount = 0 WHERE id = 5"),
        1
    );
    assert_eq!(
        touched_as(&mut c, 8, "UPDATE deals SET amount = 0 WHERE id = 5"),
        0
    );
    // The manager (hierarchy, edit) may share their rep's deal read_write.
    exec_as(
        &mut c,
        3,
        "SELECT sharing.share_record('deals', 6, 9, 'read_write')",
    );
    // A DBA session always may; granted_by stays as written (no viewer).
    let d = one_i64(&mut dba, "SELECT sharing.share_record('deals', 7, 6)");
    assert_eq!(
        one_str(
            &mut dba,
            &format!("SELECT coalesce(granted_by::text, 'null') FROM sharing.record_shares WHERE id = {d}")
        ),
        "null"
    );
    assert_eq!(
        one_i64(
            &mut dba,
            &format!("SELECT granted_by FROM sharing.record_shares WHERE id = {s}")
        ),
        10
    );

    // Unsharing: the grantor, the grantee user, a manage_sharing holder, or anyone
    // who could share the record; nobody else — to them the share does not exist.
    let share = |c: &mut Client, by: i64, sql: &str| i64_as(c, by, sql);
    let a = share(&mut c, 5, "SELECT sharing.share_record('deals', 5, 9)");
    fails_as(
        &mut c,
        6,
        &format!("SELECT sharing.unshare_record({a})"),
        "P0002",
    );
    fails_as(
        &mut c,
        4,
        &format!("SELECT sharing.unshare_record({a})"),
        "P0002",
    );
    assert_eq!(
        touched_as(
            &mut c,
            6,
            &format!("DELETE FROM sharing.record_shares WHERE id = {a}")
        ),
        0
    );
    for who in [5, 9, 10, 3] {
        assert!(one_bool_tx(
            &mut begin_as(&mut c, who),
            &format!("SELECT sharing.unshare_record({a})")
        ));
    }
    exec_as(&mut c, 9, &format!("SELECT sharing.unshare_record({a})"));
    fails_as(
        &mut c,
        5,
        &format!("SELECT sharing.unshare_record({a})"),
        "P0002",
    );
}

fn one_bool_tx(t: &mut Transaction<'_>, sql: &str) -> bool {
    t.query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

#[test]
fn role_shares_reach_members_and_with_subordinates_the_roles_below_only() {
    let mut db = TestDb::new("shrole");
    let (_dba, mut c) = org(&mut db);
    // Will's deal (7) to the East Rep role: ed and em, not their manager eve, not jo below.
    exec_as(
        &mut c,
        7,
        "SELECT sharing.share_record_with_role('deals', 7, 13)",
    );
    // Wes's deal (4) to East Rep and subordinates: ed, em, jo; not eve (above), not
    // will (a peer role), not ivan (below, but level none), not gone (disabled).
    exec_as(
        &mut c,
        4,
        "SELECT sharing.share_record_with_role('deals', 4, 13, 'role_and_subordinates')",
    );
    let expect: [(i64, &[i64]); 10] = [
        (3, &[3, 5, 6, 8, 11, 12]),
        (4, &[4, 7]),
        (5, &[4, 5, 7, 8, 11]),
        (6, &[4, 6, 7, 8, 11]),
        (7, &[7]),
        (8, &[4, 8, 11]),
        (9, &[5, 6, 9, 12]),
        (11, &[]),
        (20, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 20, 21]),
        (21, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 21]),
    ];
    for (viewer, rows) in expect {
        assert_eq!(deals_of(&mut c, viewer), rows, "viewer {viewer}");
    }
    // A role share of another company's role is refused; nor does a share reach a
    // role's members for edit when it is read.
    fails_as(
        &mut c,
        7,
        "SELECT sharing.share_record_with_role('deals', 7, 6)",
        "23503",
    );
    assert_eq!(
        touched_as(&mut c, 5, "UPDATE deals SET amount = 0 WHERE id IN (4, 7)"),
        0
    );
}

#[test]
fn participants_count_as_assignees_for_them_and_their_managers() {
    let mut db = TestDb::new("shteam");
    let (mut dba, mut c) = org(&mut db);
    let projects = |c: &mut Client, v: i64| {
        ids_as(
            c,
            v,
            "SELECT id::bigint FROM projects WHERE company_id = 1 ORDER BY id",
        )
    };
    // Project 1 (will's, team {ed}): ed, his manager eve (and dan, wes above will);
    // not em (ed's peer), not jo (below ed). Project 2 (team {ivan}): ivan has level
    // none himself, but everyone above him sees it. Project 5 (ed's, team {will, jo}):
    // will and jo as participants, wes above will, em above jo.
    assert_eq!(projects(&mut c, 5), vec![1, 2, 5]);
    assert_eq!(projects(&mut c, 3), vec![1, 2, 5]);
    assert_eq!(projects(&mut c, 6), vec![2, 5]);
    assert_eq!(projects(&mut c, 8), vec![2, 5]);
    assert_eq!(projects(&mut c, 11), Vec::<i64>::new());
    assert_eq!(projects(&mut c, 7), vec![1, 2, 5]);
    assert_eq!(projects(&mut c, 4), vec![1, 2, 3, 5]);
    assert_eq!(projects(&mut c, 9), vec![6]);
    // Participants edit at their level (owned: yes); their manager too.
    assert_eq!(
        touched_as(&mut c, 5, "UPDATE projects SET name = 'x' WHERE id = 1"),
        1
    );
    assert_eq!(
        touched_as(&mut c, 3, "UPDATE projects SET name = 'x' WHERE id = 1"),
        1
    );
    assert_eq!(
        touched_as(&mut c, 6, "UPDATE projects SET name = 'x' WHERE id = 1"),
        0
    );
    // Take ed off the team: he no longer sees it.
    dba.batch_execute("UPDATE projects SET team = '{6}' WHERE id = 1")
        .unwrap();
    assert_eq!(projects(&mut c, 5), vec![2, 5]);
    assert_eq!(projects(&mut c, 6), vec![1, 2, 5]);
    // who_can_access names them as assignees.
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT string_agg(user_id || ':' || reason, ' ' ORDER BY user_id)
               FROM sharing.who_can_access('projects', 5, 'view')"
        ),
        "1:level_all 2:hierarchy 3:hierarchy 4:hierarchy 5:owner 6:hierarchy 7:assignee 8:assignee"
    );
}

#[test]
fn id_columns_of_every_supported_type() {
    let mut db = TestDb::new("shids");
    let (mut dba, mut c) = org(&mut db);
    // integer (projects) and uuid (accounts).
    let em_projects = |c: &mut Client| ids_as(c, 6, "SELECT id::bigint FROM projects ORDER BY id");
    assert_eq!(em_projects(&mut c), vec![2, 5]);
    assert_eq!(
        touched_as(&mut c, 6, "UPDATE projects SET name = 'y' WHERE id = 3"),
        0
    );
    exec_as(
        &mut c,
        4,
        "SELECT sharing.share_record('projects', 3, 6, 'read_write')",
    );
    assert_eq!(em_projects(&mut c), vec![2, 3, 5]);
    assert_eq!(
        touched_as(&mut c, 6, "UPDATE projects SET name = 'y' WHERE id = 3"),
        1
    );
    // accounts are public_read: a share adds edit.
    assert_eq!(
        touched_as(
            &mut c,
            6,
            &format!("UPDATE accounts SET name = 'y' WHERE id = {ACC2}")
        ),
        0
    );
    exec_as(
        &mut c,
        7,
        &format!("SELECT sharing.share_record('accounts', {ACC2}, 6, 'read_write')"),
    );
    assert_eq!(
        touched_as(
            &mut c,
            6,
            &format!("UPDATE accounts SET name = 'y' WHERE id = {ACC2}")
        ),
        1
    );
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT record_id FROM sharing.record_shares WHERE object_type = 'accounts'"
        ),
        "00000000-0000-0000-0000-000000000002"
    );
    // A uuid written in another form is stored canonically and still matches.
    exec_as(
        &mut c,
        5,
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id, access)
         VALUES ('accounts', '{00000000000000000000000000000001}', 6, 'read_write')",
    );
    assert_eq!(
        one_i64(
            &mut dba,
            "SELECT count(*) FROM sharing.record_shares WHERE record_id = '00000000-0000-0000-0000-000000000001'"
        ),
        1
    );
    assert_eq!(touched_as(&mut c, 6, "UPDATE accounts SET name = 'z'"), 2);
    assert!(one_bool(
        &mut dba,
        &format!("SELECT sharing.can_access('accounts', {ACC1}, 'edit', 6)")
    ));
    // A malformed id is 22P02, not a crash nor a silent share.
    fails_as(
        &mut c,
        5,
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id) VALUES ('accounts', 'nope', 6)",
        "22P02",
    );

    // A text id column is refused; a table without `id` is protected without shares.
    dba.batch_execute(
        "CREATE TABLE notes (id text PRIMARY KEY, owner_id bigint, company_id bigint);
         CREATE TABLE logs (owner_id bigint, company_id bigint, line text);
         INSERT INTO logs VALUES (5, 1, 'a'), (7, 1, 'b');",
    )
    .unwrap();
    expect_error(
        &mut dba,
        "SELECT sharing.protect('notes', 'deals')",
        "42804",
    );
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = notices.clone();
    let mut cfg: postgres::Config = format!(
        "host=127.0.0.1 port={} user=postgres dbname={}",
        std::env::var("PG_SHARING_TEST_PORT").unwrap(),
        db.name
    )
    .parse()
    .unwrap();
    cfg.notice_callback(move |n| sink.lock().unwrap().push(n.message().to_string()));
    let mut n = cfg.connect(postgres::NoTls).unwrap();
    n.batch_execute("SELECT sharing.protect('logs', 'deals')")
        .unwrap();
    let got = notices.lock().unwrap().clone();
    assert!(
        got.iter().any(|m| m.contains("logs") && m.contains("id")),
        "{got:?}"
    );
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT coalesce(id_column::text, 'null') FROM sharing.protected_tables WHERE table_name = 'logs'::regclass"
        ),
        "null"
    );
    let app = one_str(
        &mut dba,
        "SELECT db_role::text FROM sharing.trusted_app_roles",
    );
    dba.batch_execute(&format!("GRANT SELECT ON logs TO {app}"))
        .unwrap();
    assert_eq!(
        ids_as(&mut c, 7, "SELECT owner_id FROM logs ORDER BY owner_id"),
        vec![7]
    );
    assert_eq!(
        ids_as(&mut c, 3, "SELECT owner_id FROM logs ORDER BY owner_id"),
        vec![5]
    );
    // Deals shares still work with logs beside them (same object type).
    exec_as(&mut c, 5, "SELECT sharing.share_record('deals', 5, 7)");
    assert_eq!(deals_of(&mut c, 7), vec![5, 7]);
    assert_eq!(
        ids_as(&mut c, 7, "SELECT owner_id FROM logs ORDER BY owner_id"),
        vec![7]
    );
    // Records of a table without an id column cannot be named.
    expect_error(
        &mut dba,
        "SELECT * FROM sharing.who_can_access('logs', 1)",
        "22023",
    );
}

/// Shares of every kind on the fixture: user, role, role_and_subordinates, read
/// and read_write, expired and future, on the three tables.
const EVERY_KIND: &str = "
INSERT INTO sharing.record_shares (object_type, record_id, user_id, role_id, scope, access, valid_from, valid_until) VALUES
  ('deals', '5', 7, NULL, NULL, 'read', now() - interval '1 day', NULL),
  ('deals', '7', NULL, 13, 'role', 'read_write', now() - interval '1 day', NULL),
  ('deals', '4', NULL, 11, 'role_and_subordinates', 'read', now() - interval '1 day', now() + interval '1 day'),
  ('deals', '2', 9, NULL, NULL, 'read_write', now() - interval '1 day', now() - interval '1 hour'),
  ('deals', '1', 6, NULL, NULL, 'read_write', now() + interval '1 hour', NULL),
  ('deals', '9', 11, NULL, NULL, 'read_write', now() - interval '1 day', NULL),
  ('deals', '21', 20, NULL, NULL, 'read_write', now() - interval '1 day', NULL),
  ('projects', '3', NULL, 15, 'role_and_subordinates', 'read_write', now() - interval '1 day', NULL),
  ('projects', '1', 4, NULL, NULL, 'read', now() - interval '1 day', NULL),
  ('accounts', '00000000-0000-0000-0000-000000000001', NULL, 14, 'role', 'read_write', now() - interval '1 day', NULL);
";

#[test]
fn who_can_access_is_exactly_can_access_and_the_policies() {
    let mut db = TestDb::new("shwho_all");
    let (mut dba, mut c) = org(&mut db);
    dba.batch_execute(EVERY_KIND).unwrap();
    // A superuser user of Globex (sees all) and a super company member (the User
    // role: owned, so Acme's records only through what reaches them there).
    dba.batch_execute(
        "INSERT INTO sharing.users (id, company_id, name, is_superuser) VALUES (22, 2, 'root', true);
         INSERT INTO sharing.users (id, company_id, name, is_super_company_member) VALUES (23, 2, 'roam', true);",
    )
    .unwrap();
    let mut users: Vec<i64> = USERS.to_vec();
    users.extend([22, 23]);
    let tables: [(&str, &str, Vec<String>); 3] = [
        (
            "deals",
            "id::text",
            one_str(
                &mut dba,
                "SELECT string_agg(id::text, ',' ORDER BY id) FROM deals",
            )
            .split(',')
            .map(|s| format!("{s}::bigint"))
            .collect(),
        ),
        (
            "projects",
            "id::text",
            (1..=6).map(|i| format!("{i}::integer")).collect(),
        ),
        (
            "accounts",
            "id::text",
            (1..=3)
                .map(|i| format!("'00000000-0000-0000-0000-00000000000{i}'::uuid"))
                .collect(),
        ),
    ];
    let mut reasons = BTreeSet::new();
    let mut checked = 0;
    for (table, key, records) in &tables {
        // What the policies let each user do, as (record key) sets.
        let mut by_rls: Vec<(i64, [BTreeSet<String>; 3])> = Vec::new();
        for &u in &users {
            let mut t = begin_as(&mut c, u);
            let set = |t: &mut Transaction<'_>, sql: String| -> BTreeSet<String> {
                t.batch_execute("SAVEPOINT s").unwrap();
                let out = t
                    .query(&sql, &[])
                    .unwrap_or_else(|e| panic!("{u}: {sql}: {e}"))
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect();
                t.batch_execute("ROLLBACK TO SAVEPOINT s").unwrap();
                out
            };
            let view = set(&mut t, format!("SELECT {key} FROM {table}"));
            let edit = set(
                &mut t,
                format!("UPDATE {table} SET owner_id = owner_id RETURNING {key}"),
            );
            let delete = set(&mut t, format!("DELETE FROM {table} RETURNING {key}"));
            by_rls.push((u, [view, edit, delete]));
        }
        for record in records {
            let rkey = one_str(&mut dba, &format!("SELECT ({record})::text"));
            for (ai, action) in ["view", "edit", "delete", "create"].iter().enumerate() {
                let who: Vec<(i64, String)> = dba
                    .query(
                        &format!(
                            "SELECT user_id, reason FROM sharing.who_can_access('{table}', {record}, '{action}') ORDER BY user_id"
                        ),
                        &[],
                    )
                    .unwrap()
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
                let who_ids: Vec<i64> = who.iter().map(|w| w.0).collect();
                reasons.extend(who.iter().map(|w| w.1.clone()));
                let can: Vec<i64> = users
                    .iter()
                    .copied()
                    .filter(|u| {
                        one_bool(
                            &mut dba,
                            &format!(
                                "SELECT sharing.can_access('{table}', {record}, '{action}', {u})"
                            ),
                        )
                    })
                    .collect();
                assert_eq!(who_ids, can, "{table} {record} {action}");
                if ai < 3 {
                    let rls: Vec<i64> = by_rls
                        .iter()
                        .filter(|(_, sets)| sets[ai].contains(&rkey))
                        .map(|(u, _)| *u)
                        .collect();
                    assert_eq!(who_ids, rls, "{table} {record} {action}: policies");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, (14 + 6 + 3) * 4);
    let reasons: Vec<String> = reasons.into_iter().collect();
    for r in [
        "agreement",
        "assignee",
        "hierarchy",
        "level_all",
        "owner",
        "record_share",
        "sharing_rule",
        "superuser",
    ] {
        assert!(reasons.contains(&r.to_string()), "{r} missing: {reasons:?}");
    }
    assert!(reasons.iter().any(|r| r.contains("default")), "{reasons:?}");
    // Spot checks of who and why.
    let who = |dba: &mut Client, sql: &str| {
        one_str(
            dba,
            &format!(
                "SELECT string_agg(user_id || ':' || reason, ' ' ORDER BY user_id) FROM {sql}"
            ),
        )
    };
    assert_eq!(
        who(
            &mut dba,
            "sharing.who_can_access('deals', 7::bigint, 'edit')"
        ),
        "1:level_all 2:hierarchy 4:hierarchy 5:record_share 6:record_share 7:owner 22:superuser"
    );
    assert_eq!(
        who(&mut dba, "sharing.who_can_access('deals', 4::bigint)"),
        "1:level_all 2:hierarchy 3:record_share 4:owner 5:record_share 6:record_share 8:record_share 20:agreement 21:agreement 22:superuser"
    );
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT detail::text FROM sharing.who_can_access('deals', 5::bigint) WHERE user_id = 7"
        ),
        one_str(
            &mut dba,
            "SELECT jsonb_build_object('via', 'user', 'role_id', null, 'share_id', id)::text
               FROM sharing.record_shares WHERE object_type = 'deals' AND record_id = '5'"
        )
    );
}

#[test]
fn explain_access_names_the_share_or_says_why_not() {
    let mut db = TestDb::new("shexplain");
    let (mut dba, mut c) = org(&mut db);
    let s = i64_as(
        &mut c,
        5,
        "SELECT sharing.share_record('deals', 5, 7, 'read')",
    );
    let r = i64_as(
        &mut c,
        5,
        "SELECT sharing.share_record_with_role('deals', 5, 14, 'role', 'read_write')",
    );
    // will holds West Rep: the role share (read_write) covers edit.
    let e = one_str(
        &mut dba,
        "SELECT sharing.explain_access('deals', 5::bigint, 'view', 7)::text",
    );
    let e: serde_json::Value = serde_json::from_str(&e).unwrap();
    assert_eq!(e["allowed"], true);
    assert_eq!(e["reason"], "record_share");
    assert_eq!(e["detail"]["share_id"], s);
    assert_eq!(e["record_id"], "5");
    let e: serde_json::Value = serde_json::from_str(&one_str(
        &mut dba,
        "SELECT sharing.explain_access('deals', 5::bigint, 'edit', 7)::text",
    ))
    .unwrap();
    assert_eq!(e["reason"], "record_share");
    assert_eq!(e["detail"]["share_id"], r);
    assert_eq!(e["detail"]["role_id"], 14);
    // A denial: not reached, and the share is among the reasons why not.
    let e: serde_json::Value = serde_json::from_str(&one_str(
        &mut dba,
        "SELECT sharing.explain_access('deals', 5::bigint, 'edit', 8)::text",
    ))
    .unwrap();
    assert_eq!(e["allowed"], false);
    assert_eq!(e["reason"], "not_reached");
    let why = e["detail"]["why_not"].as_array().unwrap();
    assert!(
        why.iter()
            .any(|w| w.as_str().unwrap().contains("record share")),
        "{why:?}"
    );
    // delete is never given by a share: the same reason, even for the grantee.
    let e: serde_json::Value = serde_json::from_str(&one_str(
        &mut dba,
        "SELECT sharing.explain_access('deals', 5::bigint, 'delete', 7)::text",
    ))
    .unwrap();
    assert_eq!(e["allowed"], false);
    assert_eq!(e["reason"], "not_reached");
    // The viewer asking about themselves (the default viewer).
    let mut t = begin_as(&mut c, 7);
    let e: serde_json::Value = serde_json::from_str(
        &t.query_one(
            "SELECT sharing.explain_access('deals', 5::bigint, 'view')::text",
            &[],
        )
        .unwrap()
        .get::<_, String>(0),
    )
    .unwrap();
    assert_eq!(e["detail"]["share_id"], s);
}

#[test]
fn an_untyped_record_id_is_read_as_text() {
    let mut db = TestDb::new("shuntyped");
    let (mut dba, _c) = org(&mut db);
    assert!(one_bool(
        &mut dba,
        "SELECT sharing.can_access('deals', '5', 'view', 5)"
    ));
    assert_eq!(
        one_i64(
            &mut dba,
            "SELECT count(*) FROM sharing.who_can_access('deals', '5')"
        ),
        one_i64(
            &mut dba,
            "SELECT count(*) FROM sharing.who_can_access('deals', 5::bigint)"
        )
    );
    one_i64(&mut dba, "SELECT sharing.share_record('deals', '5', 7)");
}

#[test]
fn attack_writing_shares_directly() {
    let mut db = TestDb::new("shatk_ins");
    let (mut dba, _c) = org(&mut db);
    let mut ed = mapped(&mut db, &mut dba, 5);
    // granted_by is the acting viewer, whatever is written.
    ed.batch_execute(
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id, granted_by, note)
         VALUES ('deals', '5', 7, 1, 'from the admin, honest')",
    )
    .unwrap();
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT record_id || '/' || company_id || '/' || granted_by FROM sharing.record_shares"
        ),
        "5/1/5"
    );
    // Another company's id for one's own record: refused, nothing written.
    let before = shares(&mut dba);
    expect_error(
        &mut ed,
        "INSERT INTO sharing.record_shares (object_type, record_id, company_id, user_id)
         VALUES ('deals', '5', 2, 7)",
        "23514",
    );
    // A user and the company of Globex: refused.
    expect_error(
        &mut ed,
        "INSERT INTO sharing.record_shares (object_type, record_id, company_id, user_id)
         VALUES ('deals', '5', 2, 21)",
        "23514",
    );
    // The mapped login may not pretend to be someone else.
    expect_error(
        &mut ed,
        "SET sharing.viewer = '1'; SELECT sharing.share_record('deals', 7, 5)",
        "42501",
    );
    assert_eq!(shares(&mut dba), before);
    // Moving an existing share onto another record: judged like a new one.
    expect_error(
        &mut ed,
        "UPDATE sharing.record_shares SET record_id = '7'",
        "P0002",
    );
    expect_error(
        &mut ed,
        "UPDATE sharing.record_shares SET company_id = 2, user_id = 21",
        "23514",
    );
    assert_eq!(shares(&mut dba), before);
}

#[test]
fn attack_a_share_of_another_companys_record_is_a_missing_record() {
    let mut db = TestDb::new("shatk_other");
    let (mut dba, _c) = org(&mut db);
    let mut ed = mapped(&mut db, &mut dba, 5);
    let before = shares(&mut dba);
    expect_error(
        &mut ed,
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id) VALUES ('deals', '999', 6)",
        "P0002",
    );
    for sql in [
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id) VALUES ('deals', '21', 6)",
        "INSERT INTO sharing.record_shares (object_type, record_id, company_id, user_id) VALUES ('deals', '21', 1, 6)",
        "SELECT sharing.share_record('deals', 21, 6)",
        // Same company, not visible (will's deal), with a wrong company: still missing.
        "INSERT INTO sharing.record_shares (object_type, record_id, company_id, user_id) VALUES ('deals', '7', 2, 6)",
    ] {
        let msg = expect_error(&mut ed, sql, "P0002");
        assert!(
            msg.contains("does not exist") && !msg.contains("company"),
            "{sql}: {msg}"
        );
    }
    assert_eq!(shares(&mut dba), before);
}

#[test]
fn attack_sharing_with_another_company() {
    let mut db = TestDb::new("shatk_cross");
    let (mut dba, _c) = org(&mut db);
    let mut ed = mapped(&mut db, &mut dba, 5);
    let mut gil = mapped(&mut db, &mut dba, 20);
    let before = shares(&mut dba);
    // ed's own deal with a Globex user or role: refused.
    expect_error(
        &mut ed,
        "SELECT sharing.share_record('deals', 5, 21)",
        "23503",
    );
    expect_error(
        &mut ed,
        "SELECT sharing.share_record_with_role('deals', 5, 6, 'role_and_subordinates')",
        "23503",
    );
    // gil sees Acme's deals through the agreement (view, level all): he may not
    // share them (he cannot edit them), neither with his own users nor with Acme's.
    expect_error(
        &mut gil,
        "SELECT sharing.share_record('deals', 5, 21)",
        "42501",
    );
    expect_error(
        &mut gil,
        "SELECT sharing.share_record('deals', 5, 7)",
        "42501",
    );
    // Even a DBA cannot share across companies.
    expect_error(
        &mut dba,
        "SELECT sharing.share_record('deals', 5, 21)",
        "23514",
    );
    assert_eq!(shares(&mut dba), before);
}

#[test]
fn attack_asking_about_a_record_one_cannot_see() {
    let mut db = TestDb::new("shatk_ask");
    let (mut dba, _c) = org(&mut db);
    let mut ed = mapped(&mut db, &mut dba, 5);
    // Will's deal (7) exists; 999 does not: the same answer, no owner.
    for (sql, want) in [
        ("SELECT * FROM sharing.who_can_access('deals', 7::bigint)", "record 7 of public.deals does not exist"),
        ("SELECT sharing.can_access('deals', 7::bigint, 'view', 5)", "record 7 of public.deals does not exist"),
        ("SELECT sharing.explain_access('deals', 7::bigint, 'view')", "record 7 of public.deals does not exist"),
        ("SELECT sharing.explain_access('deals', 7::bigint, 'view', 5)", "record 7 of public.deals does not exist"),
        ("SELECT * FROM sharing.who_can_access('deals', 999::bigint)", "record 999 of public.deals does not exist"),
        ("SELECT * FROM sharing.who_can_access('accounts', '00000000-0000-0000-0000-000000000003'::uuid)", "record 00000000-0000-0000-0000-000000000003 of public.accounts does not exist"),
    ] {
        let msg = expect_error(&mut ed, sql, "P0002");
        assert!(msg.starts_with(want), "{sql}: {msg}");
        assert!(!msg.contains(" 7 ") || !msg.contains("owner"), "{msg}");
    }
    // About one's own visible record: fine; about someone else: the org chart is private.
    assert!(one_bool(
        &mut ed,
        "SELECT sharing.can_access('deals', 5::bigint, 'view', 5)"
    ));
    expect_error(
        &mut ed,
        "SELECT sharing.can_access('deals', 5::bigint, 'view', 6)",
        "42501",
    );
    // who_can_access on one's own record lists only oneself (not the managers above).
    assert_eq!(
        ids(
            &mut ed,
            "SELECT user_id FROM sharing.who_can_access('deals', 5::bigint) ORDER BY 1"
        ),
        vec![5]
    );
    // A login without SELECT on the table learns nothing either.
    let nobody = db.login("nobody");
    let mut n = db.connect_as(&nobody);
    expect_error(
        &mut n,
        "SELECT * FROM sharing.who_can_access('deals', 5::bigint)",
        "42501",
    );
}

#[test]
fn attack_no_viewer_no_shares() {
    let mut db = TestDb::new("shatk_none");
    let (mut dba, _c) = org(&mut db);
    let plain = db.login("plain");
    dba.batch_execute(&format!("GRANT SELECT ON deals TO {plain}"))
        .unwrap();
    let mut p = db.connect_as(&plain);
    for sql in [
        "INSERT INTO sharing.record_shares (object_type, record_id, user_id) VALUES ('deals', '5', 7)",
        "SELECT sharing.share_record('deals', 5, 7)",
        "SELECT sharing.share_record_with_role('deals', 5, 13)",
        "SELECT sharing.purge_expired_shares()",
    ] {
        expect_error(&mut p, sql, "42501");
    }
    let id = one_i64(&mut dba, "SELECT sharing.share_record('deals', 5, 7)");
    // Without a viewer the table shows nothing, and nothing is removed.
    assert_eq!(
        one_i64(&mut p, "SELECT count(*) FROM sharing.record_shares"),
        0
    );
    assert_eq!(
        p.execute("DELETE FROM sharing.record_shares", &[]).unwrap(),
        0
    );
    expect_error(
        &mut p,
        &format!("SELECT sharing.unshare_record({id})"),
        "P0002",
    );
    assert_eq!(
        one_i64(&mut dba, "SELECT count(*) FROM sharing.record_shares"),
        1
    );
}

#[test]
fn attack_reading_and_changing_another_companys_shares() {
    let mut db = TestDb::new("shatk_tenant");
    let (mut dba, _c) = org(&mut db);
    let mut gil = mapped(&mut db, &mut dba, 20);
    let mut ed = mapped(&mut db, &mut dba, 5);
    let acme = one_i64(&mut dba, "SELECT sharing.share_record('deals', 5, 7)");
    let globex = one_i64(&mut dba, "SELECT sharing.share_record('deals', 21, 20)");
    assert_eq!(
        ids(&mut gil, "SELECT id FROM sharing.record_shares ORDER BY id"),
        vec![globex]
    );
    assert_eq!(
        ids(&mut ed, "SELECT id FROM sharing.record_shares ORDER BY id"),
        vec![acme]
    );
    assert_eq!(
        gil.execute(
            &format!("UPDATE sharing.record_shares SET valid_until = now() + interval '1 day' WHERE id = {acme}"),
            &[]
        )
        .unwrap(),
        0
    );
    assert_eq!(
        gil.execute("DELETE FROM sharing.record_shares", &[])
            .unwrap(),
        1
    );
    expect_error(
        &mut gil,
        &format!("SELECT sharing.unshare_record({acme})"),
        "P0002",
    );
    // Nor through the explanation of a share (detail.share): only Acme's own.
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT string_agg(id::text, ',') FROM sharing.record_shares"
        ),
        acme.to_string()
    );
}

#[test]
fn attack_changing_a_share_is_judged_like_a_new_one() {
    let mut db = TestDb::new("shatk_update");
    let (mut dba, mut c) = org(&mut db);
    let mut will = mapped(&mut db, &mut dba, 7);
    let mut desk = mapped(&mut db, &mut dba, 10);
    let s = i64_as(
        &mut c,
        5,
        "SELECT sharing.share_record('deals', 5, 7, 'read', now() + interval '1 day')",
    );
    let before = shares(&mut dba);
    let until = one_str(
        &mut dba,
        &format!("SELECT valid_until::text FROM sharing.record_shares WHERE id = {s}"),
    );
    // The read grantee may not lengthen nor raise their own share, nor give it away.
    for sql in [
        format!("UPDATE sharing.record_shares SET valid_until = NULL WHERE id = {s}"),
        format!("UPDATE sharing.record_shares SET valid_until = valid_until + interval '1 year' WHERE id = {s}"),
        format!("UPDATE sharing.record_shares SET access = 'read_write' WHERE id = {s}"),
        format!("UPDATE sharing.record_shares SET user_id = 4 WHERE id = {s}"),
        format!("UPDATE sharing.record_shares SET user_id = NULL, role_id = 14, scope = 'role' WHERE id = {s}"),
        format!("UPDATE sharing.record_shares SET valid_from = now() - interval '1 year' WHERE id = {s}"),
    ] {
        expect_error(&mut will, &sql, "42501");
    }
    // desk (manage_sharing, view only) may lengthen a read share, not raise it.
    expect_error(
        &mut desk,
        &format!("UPDATE sharing.record_shares SET access = 'read_write' WHERE id = {s}"),
        "42501",
    );
    assert_eq!(shares(&mut dba), before);
    assert_eq!(
        one_str(
            &mut dba,
            &format!("SELECT valid_until::text FROM sharing.record_shares WHERE id = {s}"),
        ),
        until
    );
    desk.batch_execute(&format!(
        "UPDATE sharing.record_shares SET valid_until = NULL WHERE id = {s}"
    ))
    .unwrap();
    // granted_by follows the acting viewer on every change.
    assert_eq!(
        one_i64(
            &mut dba,
            &format!("SELECT granted_by FROM sharing.record_shares WHERE id = {s}")
        ),
        10
    );
    // The grantee may decline it.
    will.batch_execute(&format!("SELECT sharing.unshare_record({s})"))
        .unwrap();
    assert_eq!(
        one_i64(&mut dba, "SELECT count(*) FROM sharing.record_shares"),
        0
    );
}

#[test]
fn share_changes_are_audited_with_their_company() {
    let mut db = TestDb::new("shaudit");
    let (mut dba, mut c) = org(&mut db);
    let s = i64_as(&mut c, 5, "SELECT sharing.share_record('deals', 5, 7)");
    let g = one_i64(&mut dba, "SELECT sharing.share_record('deals', 21, 20)");
    exec_as(
        &mut c,
        5,
        &format!("UPDATE sharing.record_shares SET access = 'read_write' WHERE id = {s}"),
    );
    exec_as(&mut c, 5, &format!("SELECT sharing.unshare_record({s})"));
    let log = one_str(
        &mut dba,
        "SELECT string_agg(format('%s %s c%s v%s %s', operation, coalesce(new_row, old_row)->>'id', company_id,
                                  coalesce(viewer::text, '-'), coalesce(new_row->>'access', old_row->>'access')),
                           '; ' ORDER BY id)
           FROM sharing.audit_log WHERE table_name = 'record_shares'",
    );
    assert_eq!(
        log,
        format!(
            "INSERT {s} c1 v5 read; INSERT {g} c2 v- read; UPDATE {s} c1 v5 read_write; DELETE {s} c1 v5 read_write"
        )
    );
    // Each company's administrator reads its own entries only.
    let mut gil = mapped(&mut db, &mut dba, 20);
    assert_eq!(
        one_i64(
            &mut gil,
            "SELECT count(*) FROM sharing.audit_log WHERE table_name = 'record_shares'"
        ),
        1
    );
}

/// Found by the attacker review: a login protected a temporary table of its own as
/// `deals`, shared ids that `deals` did not have yet, and read and edited another
/// rep's deal once it was created with such an id. Temporary tables are refused;
/// a second table under an existing type needs a DBA; a dropped table leaves the
/// registry; a dangling entry is not anyone's to unregister.
#[test]
fn attack_forged_shares_through_a_table_of_ones_own() {
    let mut db = TestDb::new("shatk_forge");
    let (mut dba, mut c) = org(&mut db);
    let mut ed = mapped(&mut db, &mut dba, 5);
    let login = one_str(
        &mut dba,
        "SELECT db_role::text FROM sharing.users WHERE id = 5",
    );
    dba.batch_execute(&format!("CREATE SCHEMA eds AUTHORIZATION {login}"))
        .unwrap();
    let before = shares(&mut dba);
    ed.batch_execute(
        "CREATE TEMP TABLE mydeals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint);
         INSERT INTO mydeals VALUES (999, 5, 1);",
    )
    .unwrap();
    let msg = expect_error(
        &mut ed,
        "SELECT sharing.protect('pg_temp.mydeals', 'deals')",
        "42809",
    );
    assert!(msg.contains("temporary"), "{msg}");
    // A permanent table of his own, under the existing type: a DBA's decision.
    ed.batch_execute(
        "CREATE TABLE eds.mydeals (id bigint PRIMARY KEY, owner_id bigint, company_id bigint);
         INSERT INTO eds.mydeals VALUES (999, 5, 1);",
    )
    .unwrap();
    expect_error(
        &mut ed,
        "SELECT sharing.protect('eds.mydeals', 'deals')",
        "42501",
    );
    // Ids that deals does not have are missing records, whoever asks.
    expect_error(
        &mut ed,
        "SELECT sharing.share_record('deals', 999, 5, 'read_write')",
        "P0002",
    );
    assert_eq!(shares(&mut dba), before);
    // The DBA may add the table; dropped, it leaves the registry.
    dba.batch_execute("SELECT sharing.protect('eds.mydeals', 'deals')")
        .unwrap();
    dba.batch_execute("DROP TABLE eds.mydeals").unwrap();
    assert_eq!(
        one_i64(
            &mut dba,
            "SELECT count(*) FROM sharing.protected_tables WHERE object_type = 'deals'"
        ),
        1
    );
    expect_error(
        &mut ed,
        "SELECT sharing.share_record('deals', 999, 5)",
        "P0002",
    );
    // will creates deal 999 later: ed does not see it.
    exec_as(&mut c, 7, "INSERT INTO deals VALUES (999, 7, 1, 1)");
    assert!(!deals_of(&mut c, 5).contains(&999));
    // Unregistering a relation one does not own (or that does not exist) is refused.
    expect_error(
        &mut ed,
        "SELECT sharing._unregister_protected('deals')",
        "42501",
    );
    expect_error(
        &mut ed,
        "SELECT sharing._unregister_protected(4294967000::oid::regclass)",
        "42501",
    );
}

/// Found by the attacker review: a share that starts later was not counted by the
/// check by effect, so a manage_users holder joined its role and read the record
/// once it started. A share counts from the moment it is written.
#[test]
fn attack_joining_a_role_whose_share_starts_later() {
    let mut db = TestDb::new("shatk_later");
    let (mut dba, mut c) = org(&mut db);
    dba.batch_execute(
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (17, 'manage_users')",
    )
    .unwrap();
    // will shares his deal with the West Reps (a leaf role) from tomorrow on.
    exec_as(
        &mut c,
        7,
        "INSERT INTO sharing.record_shares (object_type, record_id, role_id, access, valid_from)
         VALUES ('deals', '7', 14, 'read_write', now() + interval '1 day')",
    );
    // rita (Auditor, now manage_users) cannot see deal 7: she may not join West Rep.
    let msg = fails_as(
        &mut c,
        9,
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (9, 14)",
        "42501",
    );
    assert!(
        msg.contains("record share") && !msg.contains("record 7"),
        "{msg}"
    );
}

/// Found by the attacker review: the grantee of a time-limited read_write share put
/// themselves into the participants and kept the record for good. Adding assignees
/// needs the right to share, which a record share does not give.
#[test]
fn attack_a_grantee_assigns_themselves() {
    let mut db = TestDb::new("shatk_assign");
    let (_dba, mut c) = org(&mut db);
    // will (owner of project 1) gives jo read_write on it for an hour.
    exec_as(
        &mut c,
        7,
        "SELECT sharing.share_record('projects', 1, 8, 'read_write', now() + interval '1 hour')",
    );
    assert_eq!(
        touched_as(
            &mut c,
            8,
            "UPDATE projects SET name = 'renamed' WHERE id = 1"
        ),
        1
    );
    let msg = fails_as(
        &mut c,
        8,
        "UPDATE projects SET team = array_append(team, 8::bigint) WHERE id = 1",
        "42501",
    );
    assert!(msg.contains("record share"), "{msg}");
    fails_as(
        &mut c,
        8,
        "UPDATE projects SET team = '{8}' WHERE id = 1",
        "42501",
    );
    // Removing someone else is as much an assignment (found by the second review);
    // the owner assigns freely, and a participant may leave.
    fails_as(
        &mut c,
        8,
        "UPDATE projects SET team = '{}' WHERE id = 1",
        "42501",
    );
    assert_eq!(
        exec_as(&mut c, 7, "UPDATE projects SET team = '{5,8}' WHERE id = 1"),
        1
    );
    assert_eq!(
        touched_as(&mut c, 8, "UPDATE projects SET team = '{5}' WHERE id = 1"),
        1
    );
}

/// Found by the second attacker review: a share outlived its record, so a login
/// shared an id of a record of its own, deleted the record, and reached whatever
/// record got that id later — or moved another user's record onto it. A deleted
/// record takes its shares with it, and only a DBA changes a record's id (its shares
/// follow it).
#[test]
fn attack_shares_waiting_for_an_id() {
    let mut db = TestDb::new("shatk_ids");
    let (mut dba, mut c) = org(&mut db);
    exec_as(&mut c, 5, "INSERT INTO deals VALUES (9001, 5, 1, 1)");
    let s = i64_as(
        &mut c,
        5,
        "SELECT sharing.share_record('deals', 9001, 6, 'read_write')",
    );
    exec_as(&mut c, 5, "DELETE FROM deals WHERE id = 9001");
    assert_eq!(
        one_i64(
            &mut dba,
            &format!("SELECT count(*) FROM sharing.record_shares WHERE id = {s}")
        ),
        0,
        "the share left with its record"
    );
    exec_as(&mut c, 7, "INSERT INTO deals VALUES (9001, 7, 1, 50000)");
    assert!(!deals_of(&mut c, 6).contains(&9001));
    // em has read_write on will's deal 7 for an hour: she may not renumber it.
    exec_as(
        &mut c,
        7,
        "SELECT sharing.share_record('deals', 7, 6, 'read_write', now() + interval '1 hour')",
    );
    let msg = fails_as(
        &mut c,
        6,
        "UPDATE deals SET id = 9002 WHERE id = 7",
        "42501",
    );
    assert!(msg.contains("change the id"), "{msg}");
    // Nor may the owner; a DBA may, and the shares follow the record.
    fails_as(
        &mut c,
        7,
        "UPDATE deals SET id = 9002 WHERE id = 7",
        "42501",
    );
    dba.batch_execute("UPDATE deals SET id = 9002 WHERE id = 7")
        .unwrap();
    assert_eq!(
        one_str(
            &mut dba,
            "SELECT string_agg(record_id, ',') FROM sharing.record_shares WHERE user_id = 6"
        ),
        "9002"
    );
    assert!(deals_of(&mut c, 6).contains(&9002));
    // A superuser's TRUNCATE runs no row trigger: the shares of the table's records
    // go with it all the same (found by the attacker review of the inlined shares),
    // and a record inserted again with a shared id is not shared.
    let shares_of_deals = |dba: &mut Client| {
        one_i64(
            dba,
            "SELECT count(*) FROM sharing.record_shares WHERE object_type = 'deals'",
        )
    };
    assert!(shares_of_deals(&mut dba) > 0);
    dba.batch_execute("TRUNCATE deals; INSERT INTO deals VALUES (9002, 7, 1, 1)")
        .unwrap();
    assert_eq!(shares_of_deals(&mut dba), 0);
    assert!(!deals_of(&mut c, 6).contains(&9002));
}

/// Found by the attacker review: every share of the company (record ids and notes of
/// records a viewer cannot see) was readable, and so were their audit entries. A
/// viewer reads the shares they granted or received and those of records they may
/// share; manage_sharing holders read all; an acting viewer cannot date a share.
#[test]
fn share_rows_are_read_by_their_parties() {
    let mut db = TestDb::new("shatk_rows");
    let (mut dba, mut c) = org(&mut db);
    let s = i64_as(
        &mut c,
        7,
        "WITH s AS (INSERT INTO sharing.record_shares (object_type, record_id, user_id, note, created_at)
                    VALUES ('deals', '7', 8, 'secret renewal', '2001-01-01') RETURNING id, created_at)
         SELECT id FROM s WHERE created_at > now() - interval '1 minute'",
    );
    let count = |c: &mut Client, v: i64, sql: &str| ids_as(c, v, sql).len();
    let rows = "SELECT id FROM sharing.record_shares";
    let audit = "SELECT id FROM sharing.audit_log WHERE table_name = 'record_shares'";
    for (viewer, seen) in [
        (7, 1),
        (8, 1),
        (10, 1),
        (1, 1),
        (4, 1),
        (5, 0),
        (6, 0),
        (9, 0),
    ] {
        assert_eq!(
            count(&mut c, viewer, rows),
            seen,
            "viewer {viewer} reads share {s}"
        );
    }
    // The audit entries: its parties and manage_sharing holders, without a record lookup.
    for (viewer, seen) in [(7, 1), (8, 1), (10, 1), (1, 1), (5, 0), (4, 0)] {
        assert_eq!(
            count(&mut c, viewer, audit),
            seen,
            "viewer {viewer} reads the audit of {s}"
        );
    }
    // ed cannot remove what he cannot see.
    fails_as(
        &mut c,
        5,
        &format!("SELECT sharing.unshare_record({s})"),
        "P0002",
    );
    assert_eq!(
        one_i64(
            &mut dba,
            &format!("SELECT count(*) FROM sharing.record_shares WHERE id = {s}")
        ),
        1
    );
}

/// A second connection of the fixture's application role.
fn app_connection(db: &TestDb) -> Client {
    db.connect_as(&format!("{}_app", db.name))
}

/// Found by the third attacker review: a share written concurrently with the
/// deletion of its record survived it (the delete did not see the share, or the
/// share did not see the delete), and waited for the id. The share locks its record
/// (FOR SHARE), the deletion removes what it can see and refuses (40001) what it
/// cannot.
#[test]
fn attack_a_share_racing_the_deletion_of_its_record() {
    let mut db = TestDb::new("shatk_race");
    let (mut dba, mut c) = org(&mut db);
    let left = |dba: &mut Client, id: i64| {
        one_i64(
            dba,
            &format!("SELECT count(*) FROM sharing.record_shares WHERE object_type = 'deals' AND record_id = '{id}'"),
        )
    };
    // READ COMMITTED: the share is open when the deletion starts; the deletion
    // waits for it, then removes it.
    let mut a = app_connection(&db);
    let mut share = begin_as(&mut a, 5);
    share
        .batch_execute("SELECT sharing.share_record('deals', 5, 6, 'read_write')")
        .unwrap();
    let name = db.name.clone();
    let deleter = std::thread::spawn(move || {
        let mut b = connect_to(&name, &format!("{name}_app"));
        let mut t = begin_as(&mut b, 5);
        let n = t.execute("DELETE FROM deals WHERE id = 5", &[]).unwrap();
        t.commit().unwrap();
        n
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    share.commit().unwrap();
    assert_eq!(deleter.join().unwrap(), 1);
    assert_eq!(left(&mut dba, 5), 0, "the share went with its record");

    // REPEATABLE READ deleter whose snapshot predates a committed share: refused.
    exec_as(&mut c, 6, "INSERT INTO deals VALUES (6001, 6, 1, 1)");
    let mut b = app_connection(&db);
    let mut t = b
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()
        .unwrap();
    t.batch_execute("SET LOCAL sharing.viewer = '6'; SELECT count(*) FROM deals")
        .unwrap();
    exec_as(&mut c, 6, "SELECT sharing.share_record('deals', 6001, 5)");
    expect_error_tx(&mut t, "DELETE FROM deals WHERE id = 6001", "40001");
    drop(t);
    assert_eq!(left(&mut dba, 6001), 1, "nothing was deleted");

    // REPEATABLE READ share whose snapshot predates the record's deletion: refused.
    exec_as(&mut c, 6, "INSERT INTO deals VALUES (6002, 6, 1, 1)");
    let mut t = b
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()
        .unwrap();
    t.batch_execute("SET LOCAL sharing.viewer = '6'; SELECT count(*) FROM deals")
        .unwrap();
    exec_as(&mut c, 6, "DELETE FROM deals WHERE id = 6002");
    expect_error_tx(
        &mut t,
        "SELECT sharing.share_record('deals', 6002, 5)",
        "40001",
    );
    drop(t);
    assert_eq!(left(&mut dba, 6002), 0);
}

/// Found by the third attacker review: judged in an older snapshot, a share was
/// granted after its grantor lost the record, and a membership was accepted after a
/// share to its role appeared. Share writers and configuration writers serialize
/// on one row, so a REPEATABLE READ transaction that judged stale rows fails (40001).
#[test]
fn attack_stale_snapshots_around_shares() {
    let mut db = TestDb::new("shatk_stale");
    let (mut dba, mut c) = org(&mut db);
    dba.batch_execute(
        "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (17, 'manage_users')",
    )
    .unwrap();
    let mut b = app_connection(&db);
    // ed's snapshot still has him owning deal 5; eve gives it to em meanwhile.
    let mut t = rr(&mut b, 5);
    exec_as(&mut c, 3, "UPDATE deals SET owner_id = 6 WHERE id = 5");
    expect_error_tx(
        &mut t,
        "SELECT sharing.share_record('deals', 5, 7, 'read_write')",
        "40001",
    );
    drop(t);
    // rita (manage_users) judges her own membership in a snapshot without the share
    // to West Rep that will writes meanwhile.
    let mut t = rr(&mut b, 9);
    exec_as(
        &mut c,
        7,
        "SELECT sharing.share_record_with_role('deals', 7, 14)",
    );
    expect_error_tx(
        &mut t,
        "INSERT INTO sharing.user_roles (user_id, role_id) VALUES (9, 14)",
        "40001",
    );
    drop(t);
    // Nobody grants themselves a share (it would outlive a transfer away from them).
    let msg = fails_as(
        &mut c,
        7,
        "SELECT sharing.share_record('deals', 7, 7, 'read')",
        "42501",
    );
    assert!(msg.contains("themselves"), "{msg}");
}

/// A REPEATABLE READ transaction of `viewer` whose snapshot is taken.
fn rr(b: &mut Client, viewer: i64) -> Transaction<'_> {
    let mut t = b
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()
        .unwrap();
    t.batch_execute(&format!(
        "SET LOCAL sharing.viewer = '{viewer}'; SELECT count(*) FROM deals"
    ))
    .unwrap();
    t
}

/// A backend keeps the shares reaching a viewer across statements while the share
/// generation stays (docs/design.md, "Record shares"): a share written or removed in
/// another session, or a membership change, is seen at the next statement.
#[test]
fn a_backend_sees_shares_written_elsewhere_at_its_next_statement() {
    let mut db = TestDb::new("shcache");
    let (mut dba, mut c) = org(&mut db);
    let mut other = app_connection(&db);
    assert_eq!(deals_of(&mut c, 7), vec![7]);
    let s = i64_as(&mut other, 5, "SELECT sharing.share_record('deals', 5, 7)");
    assert_eq!(deals_of(&mut c, 7), vec![5, 7]);
    // A role share, then the viewer leaves the role (a configuration change).
    exec_as(
        &mut other,
        6,
        "SELECT sharing.share_record_with_role('deals', 6, 14)",
    );
    assert_eq!(deals_of(&mut c, 7), vec![5, 6, 7]);
    dba.batch_execute("INSERT INTO sharing.user_roles (user_id, role_id) VALUES (7, 3); DELETE FROM sharing.user_roles WHERE user_id = 7 AND role_id = 14")
        .unwrap();
    assert_eq!(deals_of(&mut c, 7), vec![5, 7]);
    exec_as(
        &mut other,
        5,
        &format!("SELECT sharing.unshare_record({s})"),
    );
    assert_eq!(deals_of(&mut c, 7), vec![7]);
    // A share that ends: live in this transaction, gone in the next.
    exec_as(
        &mut other,
        5,
        "SELECT sharing.share_record('deals', 5, 7, 'read', now() + interval '1 second')",
    );
    assert_eq!(deals_of(&mut c, 7), vec![5, 7]);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(deals_of(&mut c, 7), vec![7]);
}

//! Who is asking (docs/concepts.md, "The viewer"; docs/integration.md): the
//! resolution of `sharing.viewer` against the asking role, remembered per statement.

use super::gucs;
use crate::pg::errors::{insufficient_privilege, invalid_parameter, spi_failed};
use crate::pg::identity::{
    as_bootstrap_superuser, asking_role, is_dba_role, is_member_of_named, role_name_if_exists,
};
use crate::pg::mvcc::{snapshot_key, SnapshotKey};
use crate::pg::spi::read_row_kept;
use pgrx::prelude::*;
use std::collections::HashMap;
use std::rc::Rc;

use super::models::{DirectoryKey, ModelKey};

/// (snapshot, asking role, `sharing.viewer` assignments so far, `sharing.viewer_scope`
/// is `session`, `sharing.viewer` is set for the transaction only). The last two are
/// read from PostgreSQL's GUC state each time, so a remembered answer can never
/// outlive the scope it was allowed under.
type ViewerKey = (SnapshotKey, u32, u64, bool, bool);

thread_local! {
    /// The last successful resolution, for the same snapshot, role and setting: the
    /// several InitPlans of one statement resolve the viewer once. Errors are never
    /// remembered. Everything the answer depends on (the sharing tables, the role
    /// catalogs) is read in that snapshot, so the same key gives the same answer.
    static LAST: std::cell::RefCell<Option<(ViewerKey, Option<i64>)>> = const { std::cell::RefCell::new(None) };
}

/// Resolve the viewer of this statement, or `None` (no viewer: fail closed).
pub fn resolve_viewer() -> Option<i64> {
    // Before any switch of ours: inside as_bootstrap_superuser the current user is
    // the bootstrap superuser.
    let role = asking_role();
    let key = snapshot_key().map(|snap| {
        (
            snap,
            role.to_u32(),
            gucs::viewer_assignments(),
            gucs::viewer_scope() == gucs::ViewerScope::Session,
            gucs::viewer_set_locally(),
        )
    });
    if let Some(key) = &key {
        let hit = LAST.with(|l| match &*l.borrow() {
            Some((k, v)) if k == key => Some(*v),
            _ => None,
        });
        if let Some(v) = hit {
            return v;
        }
    }
    // The reads need the extension's rights; the asking role was taken above.
    let viewer = as_bootstrap_superuser(|| resolve_viewer_uncached(role));
    if let Some(key) = key {
        LAST.with(|l| *l.borrow_mut() = Some((key, viewer)));
    }
    viewer
}

/// Refuses (`42501`) to plan a protected statement inside a parallel worker while
/// `sharing.viewer` is set and only a transaction's viewer is allowed: a worker receives
/// the leader's settings as session values and cannot tell whether the viewer was set
/// for the transaction, and a statement planned there (the query of a `PARALLEL SAFE`
/// function under `force_parallel_mode`) has no leader that judged it — an eighth
/// attacker review read a session-level viewer's rows so. The leader's own plans are
/// never planned in a worker.
pub fn refuse_planning_in_a_parallel_worker() {
    if unsafe { pg_sys::ParallelWorkerNumber } < 0
        || gucs::viewer_scope() != gucs::ViewerScope::Transaction
        || gucs::viewer_setting().is_none()
    {
        return;
    }
    let role = asking_role();
    if unsafe { pg_sys::superuser_arg(role) } || is_dba_role(role) {
        return;
    }
    insufficient_privilege(
        "a protected statement is planned inside a parallel worker, which cannot tell whether sharing.viewer was set for the transaction",
        Some("mark a function that reads protected tables PARALLEL RESTRICTED (docs/security.md)"),
    );
}

fn resolve_viewer_uncached(role: pg_sys::Oid) -> Option<i64> {
    let setting = gucs::viewer_setting();
    let requested = setting.as_deref().map(|text| {
        text.parse::<i64>().unwrap_or_else(|_| {
            invalid_parameter(
                format!("invalid value for sharing.viewer: \"{text}\""),
                Some("sharing.viewer takes a user id of sharing.users, e.g. SET LOCAL sharing.viewer = '42'"),
            )
        })
    });
    // Who is mapped and who is trusted comes from the sharing tables as this
    // statement's snapshot sees them (one read per configuration, `Directory`);
    // names and memberships of database roles from PostgreSQL's role caches, as
    // `pg_has_role` answers them.
    let key = super::models::current_key();
    let directory = directory(key);
    let rolname = role_name_if_exists(role);
    let mapped = rolname
        .as_deref()
        .and_then(|name| directory.mapped.get(name).copied());
    let rolname = rolname.unwrap_or_default();
    if let Some(user) = mapped {
        if let Some(other) = requested.filter(|r| *r != user) {
            insufficient_privilege(
                format!(
                    "login \"{rolname}\" is mapped to user {user} and cannot set sharing.viewer to {other}"
                ),
                Some("a login mapped through sharing.users.db_role always acts as its own user; RESET sharing.viewer"),
            );
        }
        return Some(user);
    }
    let requested = requested?;
    let is_superuser = unsafe { pg_sys::superuser_arg(role) };
    let trusted = || {
        directory
            .trusted
            .iter()
            .any(|t| is_member_of_named(role, t))
    };
    if !is_superuser && !trusted() {
        insufficient_privilege(
            format!("role \"{rolname}\" may not set sharing.viewer"),
            Some("only superusers and members of a role listed in sharing.trusted_app_roles may act for another user"),
        );
    }
    // A viewer that outlives the transaction serves whoever gets this connection
    // next behind a transaction pooler (docs/integration.md §2). A parallel worker
    // cannot tell: it receives the leader's settings as session values. The leader
    // judged the scope when it resolved the viewer — the policies' once-per-statement
    // InitPlans run in the leader before any worker starts (docs/security.md).
    if gucs::viewer_scope() == gucs::ViewerScope::Transaction
        && unsafe { pg_sys::ParallelWorkerNumber } < 0
        && !gucs::viewer_set_locally()
        && !is_dba_role(role)
    {
        insufficient_privilege(
            format!(
                "role \"{rolname}\" set sharing.viewer = {requested} for the session; it must be set for the transaction"
            ),
            Some("use SET LOCAL sharing.viewer = '…' or set_config('sharing.viewer', '…', true) in each transaction: a session-level viewer would serve the next client of a pooled connection (sharing.viewer_scope = session, for DBAs only, allows it)"),
        );
    }
    if !user_exists(key, requested) {
        invalid_parameter(
            format!("unknown viewer: sharing.viewer = {requested} is not a user of sharing.users"),
            None,
        );
    }
    Some(requested)
}

/// The logins mapped to users (`users.db_role`) and the trusted application roles
/// of one configuration. Both tables move the generation when written
/// (sql/generation.sql), so the configuration's key identifies their rows; a
/// committed change that maps no login (and writes no trusted role: that one is
/// compiled again) keeps them, so the directory is keyed by the model's
/// [`DirectoryKey`] when the model is at hand.
struct Directory {
    key: DirectoryKey,
    mapped: HashMap<String, i64>,
    trusted: Vec<String>,
}

thread_local! {
    /// The directory of the configuration this backend resolved a viewer in last.
    static DIRECTORY: std::cell::RefCell<Option<Rc<Directory>>> = const { std::cell::RefCell::new(None) };
}

/// The directory of configuration `key`: read once (as the extension's owner,
/// in the statement's snapshot) while the configuration stays.
fn directory(key: ModelKey) -> Rc<Directory> {
    let key = directory_key(key);
    if let Some(d) = DIRECTORY
        .with(|d| d.borrow().clone())
        .filter(|d| d.key == key)
    {
        return d;
    }
    let (logins, users, trusted) = as_bootstrap_superuser(|| {
        read_row_kept(
            // Logins and users from one scan, so that the two arrays pair up.
            "SELECT m.logins, m.users,
                    (SELECT pg_catalog.array_agg(t.db_role::pg_catalog.text) FROM sharing.trusted_app_roles t)
               FROM (SELECT pg_catalog.array_agg(u.db_role::pg_catalog.text) AS logins, pg_catalog.array_agg(u.id) AS users
                       FROM sharing.users u WHERE u.db_role IS NOT NULL) m",
            &[],
            |row| {
                Ok((
                    row.get::<Vec<String>>(1)?.unwrap_or_default(),
                    row.get::<Vec<i64>>(2)?.unwrap_or_default(),
                    row.get::<Vec<String>>(3)?.unwrap_or_default(),
                ))
            },
        )
    })
    .unwrap_or_else(|e| spi_failed("resolve the viewer", e))
    .unwrap_or_else(|| spi_failed("resolve the viewer", "no row"));
    let directory = Rc::new(Directory {
        key,
        mapped: logins.into_iter().zip(users).collect(),
        trusted,
    });
    DIRECTORY.with(|d| *d.borrow_mut() = Some(directory.clone()));
    directory
}

/// What the directory of configuration `key` is keyed by: its model's
/// [`DirectoryKey`] when this backend holds the model or, for a committed
/// configuration, reads it from a shared image (an attach, which the protected
/// statement needs anyway); else the configuration itself. Never a build for a
/// configuration this transaction is writing: its key moves with every command (a
/// row trigger of a bulk insert resolves the viewer once per row).
fn directory_key(key: ModelKey) -> DirectoryKey {
    if let Some(model) = super::models::model_for(key) {
        return model.directory_key();
    }
    if key.is_committed() && super::shared::enabled() {
        return super::models::current_model().directory_key();
    }
    DirectoryKey::Exact(key)
}

/// Whether `id` is a user of configuration `key`: from its compiled model when this
/// backend has it (every protected statement has), else one read.
fn user_exists(key: ModelKey, id: i64) -> bool {
    if let Some(model) = super::models::model_for(key) {
        return model.compiled.has_user(id);
    }
    as_bootstrap_superuser(|| {
        read_row_kept(
            "SELECT EXISTS (SELECT 1 FROM sharing.users u WHERE u.id OPERATOR(pg_catalog.=) $1)",
            &[(pg_sys::INT8OID, pg_sys::Datum::from(id))],
            |row| row.require::<bool>(1),
        )
    })
    .unwrap_or_else(|e| spi_failed("resolve the viewer", e))
    .unwrap_or_else(|| spi_failed("resolve the viewer", "no row"))
}

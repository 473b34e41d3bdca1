//! Record shares (docs/concepts.md, "Record shares"): one record of one object type
//! shared with a user, with the members of a role, or with the members of a role and
//! of every role below it, for `read` or `read_write`, until an optional end.
//!
//! The shares are not part of the compiled organization: a share is written many
//! times a day and must not cost every backend a rebuild. The backend reads the few
//! shares a question needs (one record's, or one viewer's for one object type) in
//! the statement's snapshot, already filtered to the live ones, and the engine
//! ([`CompiledOrg::decide_record`]) judges them with the hierarchy it holds.
//!
//! [`CompiledOrg::decide_record`]: super::engine::CompiledOrg::decide_record

use super::types::{RuleAccess, RuleScope};

/// Who a share is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grantee {
    User(i64),
    /// The members of the role (`scope = role`), or of the role and every role
    /// below it (`role_and_subordinates`). Never up the hierarchy.
    Role {
        role: i64,
        scope: RuleScope,
    },
}

impl Grantee {
    /// The grantee of a `record_shares` row: its `user_id`, or its `role_id` with
    /// `scope` (`role` when absent); `None` for a row with neither.
    pub fn from_columns(
        user: Option<i64>,
        role: Option<i64>,
        scope: Option<&str>,
    ) -> Option<Grantee> {
        match (user, role) {
            (Some(u), _) => Some(Grantee::User(u)),
            (None, Some(role)) => Some(Grantee::Role {
                role,
                scope: scope
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(RuleScope::Role),
            }),
            (None, None) => None,
        }
    }
}

/// One live share of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareGrant {
    pub id: i64,
    /// The company of the record when it was shared: a share reaches the record
    /// only while it stays in that company.
    pub company: i64,
    pub grantee: Grantee,
    pub access: RuleAccess,
}

/// The roles through which shares reach one viewer: a share to one of `own`
/// reaches them whatever its scope; a share to one of `above` only with
/// `role_and_subordinates`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareAnchors {
    pub own: Vec<i64>,
    pub above: Vec<i64>,
}

/// The `access` a share needs to allow `action`, as text for SQL (`read` covers
/// `view`, `read_write` covers `view` and `edit`; nothing covers `create` or
/// `delete`).
pub fn accesses_covering(action: super::types::Action) -> &'static [&'static str] {
    use super::types::Action;
    match action {
        Action::View => &["read", "read_write"],
        Action::Edit => &["read_write"],
        Action::Create | Action::Delete => &[],
    }
}

/// The access needed to grant a share with `access`: `read` needs `view`,
/// `read_write` needs `edit` (docs/security.md, "Record shares").
pub fn action_needed_to_grant(access: RuleAccess) -> super::types::Action {
    match access {
        RuleAccess::Read => super::types::Action::View,
        RuleAccess::ReadWrite => super::types::Action::Edit,
    }
}

/// Why a viewer may not grant a share (docs/security.md, "Record shares").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareRefusal {
    /// The viewer cannot see the record: it is reported as missing.
    NotVisible,
    /// Neither able to edit the record nor holding `manage_sharing` in its company.
    MayNotShare,
    /// The share would give more than the viewer holds on the record (`read_write`
    /// needs `edit`).
    AboveOwnAccess,
}

/// May a viewer grant a share with `access` on a record? `can(action)` is the
/// viewer's own decision on the record (their shares included); `manages` is
/// `manage_sharing` (or admin) in the record's company. Who may share: a viewer who
/// can edit the record, or a `manage_sharing` holder of its company — and never more
/// than the viewer holds on it (no escalation, §2.5). Superuser users may always.
pub fn judge_share(
    can: impl Fn(super::types::Action) -> bool,
    manages: bool,
    superuser: bool,
    access: RuleAccess,
) -> Result<(), ShareRefusal> {
    use super::types::Action;
    if superuser {
        return Ok(());
    }
    if !can(Action::View) {
        return Err(ShareRefusal::NotVisible);
    }
    if !can(Action::Edit) && !manages {
        return Err(ShareRefusal::MayNotShare);
    }
    if !can(action_needed_to_grant(access)) {
        return Err(ShareRefusal::AboveOwnAccess);
    }
    Ok(())
}

/// May a viewer remove a share? Its grantor, its grantee user (declining it), a
/// `manage_sharing` holder of its company, or anyone who could grant it now (can
/// edit the record). Removing access never escalates.
pub fn may_unshare(
    viewer: i64,
    granted_by: Option<i64>,
    grantee: Grantee,
    manages: bool,
    superuser: bool,
    can_edit: impl Fn() -> bool,
) -> bool {
    superuser
        || manages
        || granted_by == Some(viewer)
        || grantee == Grantee::User(viewer)
        || can_edit()
}

/// A share of some record as the lookup of one viewer's shares keeps it across
/// statements: its record and its period (microseconds since the Unix epoch;
/// `until` None = no end). Whether it is live is decided per transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedShare {
    pub record_id: String,
    pub from: i64,
    pub until: Option<i64>,
}

/// The records of `shares` live at `now` (`from <= now < until`), each once, sorted.
pub fn live_record_ids(shares: &[TimedShare], now: i64) -> Vec<String> {
    let mut ids: Vec<String> = shares
        .iter()
        .filter(|s| s.from <= now && s.until.is_none_or(|u| now < u))
        .map(|s| s.record_id.clone())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod timed_tests {
    use super::*;

    #[test]
    fn a_share_is_live_from_its_start_until_before_its_end() {
        let s = |id: &str, from: i64, until: Option<i64>| TimedShare {
            record_id: id.into(),
            from,
            until,
        };
        let shares = [
            s("1", 10, Some(20)),
            s("2", 20, None),
            s("1", 0, Some(11)),
            s("3", 30, Some(31)),
        ];
        assert_eq!(live_record_ids(&shares, 9), vec!["1"]);
        assert_eq!(live_record_ids(&shares, 10), vec!["1"]);
        assert_eq!(live_record_ids(&shares, 19), vec!["1"]);
        assert_eq!(live_record_ids(&shares, 20), vec!["2"]);
        assert_eq!(live_record_ids(&shares, 30), vec!["2", "3"]);
        assert_eq!(live_record_ids(&shares, 31), vec!["2"]);
    }
}

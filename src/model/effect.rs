//! No escalation by effect (docs/security.md, "No escalation by effect"): compare
//! what every user may do before and after a configuration change, and find one
//! access or privilege somebody gained that the acting viewer did not hold.
//!
//! Access is compared per user, object type and action as a [`Reach`] (whole
//! companies and owners; records without an assignee suffice, since an assignee
//! reaches a viewer exactly as an owner does). Two kinds of records never count:
//! the user's own, and those of users the change creates.

use super::engine::{CompiledOrg, Reach};
use super::interrupts::Ticker;
use super::org::Org;
use super::perms::{user_permissions, PermissionSet};
use super::types::{Action, Status};
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};
use std::hash::{Hash, Hasher};

/// One configuration: its rows, its compiled form and their fingerprints.
#[derive(Clone, Copy)]
pub struct State<'a> {
    pub org: &'a Org,
    pub compiled: &'a CompiledOrg,
    pub signatures: &'a Signatures,
}

/// Per user, fingerprints of what their access and their privileges are made of:
/// computed once per configuration (the backend keeps them with its model).
#[derive(Debug, Default)]
pub struct Signatures {
    access: FxHashMap<i64, u64>,
    privileges: FxHashMap<i64, u64>,
}

impl Signatures {
    pub fn of(org: &Org, compiled: &CompiledOrg) -> Signatures {
        Signatures {
            access: compiled.access_signatures(),
            privileges: privilege_signatures(org),
        }
    }
}

/// What a gained access reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    EveryCompany,
    Company(i64),
    Owner { owner: i64, company: i64 },
}

/// Something a user may do after the change and not before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gained {
    Access {
        object_type: String,
        action: Action,
        target: Target,
    },
    Privilege(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gain {
    pub user: i64,
    pub gained: Gained,
}

impl std::fmt::Display for Gain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.gained {
            Gained::Privilege(p) => {
                write!(f, "user {} would gain the privilege \"{p}\"", self.user)
            }
            Gained::Access {
                object_type,
                action,
                target,
            } => {
                write!(f, "user {} would gain {action} on ", self.user)?;
                match target {
                    Target::EveryCompany => {
                        write!(f, "every \"{object_type}\" record of every company")
                    }
                    Target::Company(c) => {
                        write!(f, "every \"{object_type}\" record of company {c}")
                    }
                    Target::Owner { owner, company } => write!(
                        f,
                        "the \"{object_type}\" records of user {owner} (company {company})"
                    ),
                }
            }
        }
    }
}

/// A fingerprint per user of what their privileges are made of: their status and
/// flags (ownership of their company included), and for each of their roles its own privileges and admin flag along its
/// `based_on` chain. Linear in roles + memberships.
fn privilege_signatures(org: &Org) -> FxHashMap<i64, u64> {
    let fx = |f: &dyn Fn(&mut FxHasher)| {
        let mut h = FxHasher::default();
        f(&mut h);
        h.finish()
    };
    let mut own: FxHashMap<i64, u64> = FxHashMap::default();
    for r in &org.snapshot.roles {
        own.insert(r.id, fx(&|h| (r.id, r.is_admin).hash(h)));
    }
    for p in &org.snapshot.role_privileges {
        if let Some(e) = own.get_mut(&p.role_id) {
            *e = e.wrapping_add(fx(&|h| p.privilege.hash(h)));
        }
    }
    // Along based_on, each role once (the chains are acyclic by invariant; a
    // seen-set guards the walk anyway).
    let mut effective: FxHashMap<i64, u64> = FxHashMap::default();
    let mut tick = Ticker::new();
    for r in &org.snapshot.roles {
        let mut chain = Vec::new();
        let mut seen = FxHashSet::default();
        let mut at = Some(r.id);
        while let Some(id) = at {
            tick.tick();
            if effective.contains_key(&id) || !seen.insert(id) {
                break;
            }
            chain.push(id);
            at = org.role(id).and_then(|x| x.based_on);
        }
        let mut acc = at.and_then(|id| effective.get(&id).copied()).unwrap_or(0);
        for id in chain.into_iter().rev() {
            acc = fx(&|h| (own.get(&id).copied().unwrap_or(0), acc).hash(h));
            effective.insert(id, acc);
        }
    }
    org.snapshot
        .users
        .iter()
        .map(|u| {
            let roles = org.roles_of(u.id).iter().fold(0u64, |acc, r| {
                acc.wrapping_add(effective.get(r).copied().unwrap_or(0))
            });
            let sig = fx(&|h| (u.status.as_str(), u.is_superuser, org.is_owner(u), roles).hash(h));
            (u.id, sig)
        })
        .collect()
}

/// The users whose access or privileges may differ between the two states: new
/// users, and those whose fingerprints moved.
fn candidates(before: State, after: State) -> Vec<i64> {
    let (b, a) = (before.signatures, after.signatures);
    let mut out: Vec<i64> = a
        .access
        .iter()
        .filter(|(u, sig)| {
            b.access.get(u) != Some(sig) || b.privileges.get(u) != a.privileges.get(u)
        })
        .map(|(u, _)| *u)
        .collect();
    out.sort_unstable();
    out
}

/// A user's permissions (privileges and flags), computed once per distinct role set.
struct PermissionMemo<'a> {
    org: &'a Org,
    by_roles: FxHashMap<Vec<i64>, PermissionSet>,
}

impl<'a> PermissionMemo<'a> {
    fn new(org: &'a Org) -> Self {
        PermissionMemo {
            org,
            by_roles: FxHashMap::default(),
        }
    }

    fn of(&mut self, user: i64) -> PermissionSet {
        let Some(u) = self.org.user(user) else {
            return PermissionSet::default();
        };
        if u.status != Status::Active || u.is_superuser || self.org.is_owner(u) {
            return user_permissions(self.org, user);
        }
        let roles = self.org.roles_of(user).to_vec();
        let org = self.org;
        self.by_roles
            .entry(roles)
            .or_insert_with(|| user_permissions(org, user))
            .clone()
    }
}

/// The first access or privilege some user holds after the change, did not hold
/// before, and `actor` did not hold before either; `None` when the change hands
/// out nothing beyond the actor's own reach. `actor` is an active viewer who is
/// not a superuser (superusers and DBA sessions are not judged). `created` tells
/// the users the change creates, whose records do not count.
pub fn first_escalation(
    before: State,
    after: State,
    actor: i64,
    created: &dyn Fn(i64) -> bool,
) -> Option<Gain> {
    let mut tick = Ticker::new();
    let types: Vec<&str> = after.org.object_type_names().collect();
    let actor_reach: FxHashMap<(&str, Action), Reach> = types
        .iter()
        .flat_map(|t| Action::ALL.iter().map(move |a| (*t, *a)))
        .map(|(t, a)| ((t, a), before.compiled.reach_for(t, a, actor)))
        .collect();
    let actor_perms = user_permissions(before.org, actor);
    let mut perms_before = PermissionMemo::new(before.org);
    let mut perms_after = PermissionMemo::new(after.org);
    let company_of = |owner: i64| {
        after
            .org
            .user(owner)
            .or_else(|| before.org.user(owner))
            .map_or(i64::MIN, |u| u.company_id)
    };
    for user in candidates(before, after) {
        tick.tick();
        let existed = before.org.user(user).is_some();
        // Privileges and flags.
        let (pb, pa) = (
            if existed {
                perms_before.of(user)
            } else {
                PermissionSet::default()
            },
            perms_after.of(user),
        );
        let privilege = |p: &str| Gain {
            user,
            gained: Gained::Privilege(p.to_string()),
        };
        if pa.superuser && !pb.superuser {
            return Some(privilege("superuser"));
        }
        if pa.admin && !pb.admin && !pb.superuser && !actor_perms.admin {
            return Some(privilege("admin"));
        }
        if let Some(p) = pa
            .privileges
            .iter()
            .find(|p| !pb.has_privilege(p) && !actor_perms.has_privilege(p))
        {
            return Some(privilege(p));
        }
        // Access, per type and action.
        let own_company = after.org.user(user).map_or(i64::MIN, |u| u.company_id);
        for t in &types {
            for a in Action::ALL {
                let ra = after.compiled.reach_for(t, *a, user);
                if ra == Reach::default() {
                    continue;
                }
                let rb = if existed {
                    before.compiled.reach_for(t, *a, user)
                } else {
                    Reach::default()
                };
                let held = &actor_reach[&(*t, *a)];
                let access = |target: Target| Gain {
                    user,
                    gained: Gained::Access {
                        object_type: t.to_string(),
                        action: *a,
                        target,
                    },
                };
                if ra.every_company && !rb.every_company && !held.every_company {
                    return Some(access(Target::EveryCompany));
                }
                for &c in &ra.companies {
                    if !rb.holds_company(c) && !held.holds_company(c) {
                        return Some(access(Target::Company(c)));
                    }
                }
                if rb.holds_company(own_company) {
                    continue;
                }
                for &o in &ra.owners {
                    tick.tick();
                    let company = company_of(o);
                    if o == user || rb.holds(company, o) || held.holds(company, o) {
                        continue;
                    }
                    // Those of users the change creates do not count (asked last:
                    // the answer may need to look at the records).
                    if created(o) {
                        continue;
                    }
                    return Some(access(Target::Owner { owner: o, company }));
                }
            }
        }
    }
    None
}

/// Records of one protected table, grouped: (company, owner, assignee, how many).
pub type RecordGroups = Vec<(Option<i64>, Option<i64>, Option<i64>, i64)>;

/// One line of `sharing.what_if`: a user gains or loses records of a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessChange {
    pub user: i64,
    pub object_type: String,
    pub action: Action,
    pub gained: i64,
    pub lost: i64,
}

/// For every user whose access may differ (see [`first_escalation`]), how many
/// records of each table (`(object type, groups)`) they gain and lose per action.
pub fn access_changes(
    before: State,
    after: State,
    tables: &[(String, RecordGroups)],
) -> Vec<AccessChange> {
    let mut tick = Ticker::new();
    let mut out = Vec::new();
    for user in candidates(before, after) {
        for (object_type, groups) in tables {
            for a in Action::ALL {
                let (mut gained, mut lost) = (0, 0);
                for &(company, owner, assignee, n) in groups {
                    tick.tick();
                    let was = before
                        .compiled
                        .decide(object_type, *a, owner, company, user, assignee)
                        .allowed;
                    let is = after
                        .compiled
                        .decide(object_type, *a, owner, company, user, assignee)
                        .allowed;
                    match (was, is) {
                        (false, true) => gained += n,
                        (true, false) => lost += n,
                        _ => {}
                    }
                }
                if gained != 0 || lost != 0 {
                    out.push(AccessChange {
                        user,
                        object_type: object_type.clone(),
                        action: *a,
                        gained,
                        lost,
                    });
                }
            }
        }
    }
    out
}

/// Record shares in the check by effect (docs/security.md, "Record shares").
/// Everything that decides which shares reach `user` and what they give:
/// whether they are active, their company, the roles shares reach them through,
/// and their `view`/`edit` levels per type. Users whose profile moved are those
/// a configuration change can give a share's access to (the check by effect).
pub fn share_profile(
    compiled: &CompiledOrg,
    user: i64,
    types: &[&str],
) -> Option<(
    i64,
    super::shares::ShareAnchors,
    Vec<Option<super::types::Level>>,
)> {
    use super::types::Action;
    let company = compiled.company_of(user)?;
    let levels = types
        .iter()
        .flat_map(|t| [Action::View, Action::Edit].map(|a| compiled.level_of(t, a, user)))
        .collect();
    Some((company, compiled.share_anchors(user), levels))
}

/// The users of `after` whose [`share_profile`] differs from `before`'s, ascending.
pub fn share_candidates(
    before: &CompiledOrg,
    after: &CompiledOrg,
    users: impl Iterator<Item = i64>,
    types: &[&str],
) -> Vec<i64> {
    let mut tick = super::interrupts::Ticker::new();
    let mut out: Vec<i64> = users
        .filter(|u| {
            tick.tick();
            share_profile(after, *u, types) != share_profile(before, *u, types)
        })
        .collect();
    out.sort_unstable();
    out
}

/// Does `share` give `user` `action` on its record in this model (the record in
/// the share's company)? The share's own conditions only; the decision on the
/// record (`decide_record`) adds the level and the other paths.
pub fn share_gives(
    compiled: &CompiledOrg,
    object_type: &str,
    share: &super::shares::ShareGrant,
    user: i64,
    action: super::types::Action,
) -> bool {
    use super::types::Level;
    share.access.covers(action)
        && compiled.company_of(user) == Some(share.company)
        && matches!(compiled.level_of(object_type, action, user), Some(l) if l != Level::None)
        && compiled.share_reaches(&share.grantee, user)
}

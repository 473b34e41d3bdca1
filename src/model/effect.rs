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

/// One configuration: its rows and its compiled form.
#[derive(Clone, Copy)]
pub struct State<'a> {
    pub org: &'a Org,
    pub compiled: &'a CompiledOrg,
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

/// An order-independent fingerprint of each company's configuration rows, so that
/// only the users of companies the change touched are compared.
fn company_fingerprints(org: &Org) -> FxHashMap<i64, u64> {
    let s = &org.snapshot;
    let mut out: FxHashMap<i64, u64> = FxHashMap::default();
    let mut add = |company: i64, row: &dyn Fn(&mut FxHasher)| {
        let mut h = FxHasher::default();
        row(&mut h);
        let e = out.entry(company).or_insert(0);
        *e = e.wrapping_add(h.finish().wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    };
    let role_company = |id: i64| org.role(id).map_or(i64::MIN, |r| r.company_id);
    let user_company = |id: i64| org.user(id).map_or(i64::MIN, |u| u.company_id);
    for u in &s.users {
        add(u.company_id, &|h| {
            (
                1u8,
                u.id,
                u.status.as_str(),
                u.is_superuser,
                u.is_super_company_member,
            )
                .hash(h)
        });
    }
    for r in &s.roles {
        add(r.company_id, &|h| {
            (2u8, r.id, r.reports_to, r.based_on, r.is_admin).hash(h)
        });
    }
    for m in &s.user_roles {
        add(user_company(m.user_id), &|h| {
            (3u8, m.user_id, m.role_id).hash(h)
        });
    }
    for p in &s.role_permissions {
        add(role_company(p.role_id), &|h| {
            (
                4u8,
                p.role_id,
                &p.object_type,
                p.action.as_str(),
                p.level.as_str(),
            )
                .hash(h)
        });
    }
    for p in &s.role_privileges {
        add(role_company(p.role_id), &|h| {
            (5u8, p.role_id, &p.privilege).hash(h)
        });
    }
    for r in &s.sharing_rules {
        add(r.company_id, &|h| {
            (
                6u8,
                r.id,
                &r.object_type,
                r.source_role,
                r.source_scope.as_str(),
                r.target_role,
                r.target_scope.as_str(),
                r.access.as_str(),
            )
                .hash(h)
        });
    }
    // An agreement touches both parties (the grantee's users gain or lose reach).
    let parties: FxHashMap<i64, (i64, i64)> = s
        .agreements
        .iter()
        .map(|a| (a.id, (a.grantor_company, a.grantee_company)))
        .collect();
    for a in &s.agreements {
        for c in [a.grantor_company, a.grantee_company] {
            add(c, &|h| {
                (7u8, a.id, a.grantor_company, a.grantee_company).hash(h)
            });
        }
    }
    for p in &s.agreement_permissions {
        let (grantor, grantee) = parties
            .get(&p.agreement_id)
            .copied()
            .unwrap_or((i64::MIN, i64::MIN));
        for c in [grantor, grantee] {
            add(c, &|h| {
                (8u8, p.agreement_id, &p.object_type, p.action.as_str()).hash(h)
            });
        }
    }
    out
}

/// The users whose access or privileges the change may have altered: those of
/// companies whose rows differ, and every superuser and super company member.
fn candidates(before: &Org, after: &Org) -> Vec<i64> {
    let types_changed = before.snapshot.object_types != after.snapshot.object_types;
    let (fb, fa) = (company_fingerprints(before), company_fingerprints(after));
    let touched: FxHashSet<i64> = fb
        .keys()
        .chain(fa.keys())
        .filter(|c| fb.get(c) != fa.get(c))
        .copied()
        .collect();
    after
        .snapshot
        .users
        .iter()
        .filter(|u| {
            types_changed
                || touched.contains(&u.company_id)
                || u.is_superuser
                || u.is_super_company_member
                || before
                    .user(u.id)
                    .is_some_and(|b| b.is_superuser || b.is_super_company_member)
        })
        .map(|u| u.id)
        .collect()
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
        if u.status != Status::Active || u.is_superuser {
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
/// not a superuser (superusers and DBA sessions are not judged).
pub fn first_escalation(before: State, after: State, actor: i64) -> Option<Gain> {
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
    for user in candidates(before.org, after.org) {
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
                    // One's own records, and those of users the change creates, do not count.
                    if o == user || before.org.user(o).is_none() {
                        continue;
                    }
                    let company = company_of(o);
                    if !rb.holds(company, o) && !held.holds(company, o) {
                        return Some(access(Target::Owner { owner: o, company }));
                    }
                }
            }
        }
    }
    None
}

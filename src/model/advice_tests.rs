//! Unit tests of [`super::advice`]: hand-built cases, and on random organizations
//! the promise that a rule judged to give nothing changes no decision when removed.

use super::advice::*;
use super::engine::CompiledOrg;
use super::org::*;
use super::types::*;
use rand::{Rng, SeedableRng};

fn role(id: i64, reports_to: Option<i64>) -> RoleRow {
    RoleRow {
        id,
        company_id: 1,
        name: format!("r{id}"),
        reports_to,
        based_on: None,
        is_admin: false,
        is_default: false,
    }
}

fn rule(
    id: i64,
    t: Option<&str>,
    source: (i64, RuleScope),
    target: (i64, RuleScope),
    access: RuleAccess,
) -> SharingRuleRow {
    SharingRuleRow {
        id,
        company_id: 1,
        object_type: t.map(str::to_string),
        source_role: source.0,
        source_scope: source.1,
        target_role: target.0,
        target_scope: target.1,
        access,
    }
}

fn perm(role_id: i64, t: &str, action: Action, level: Level) -> RolePermissionRow {
    RolePermissionRow {
        role_id,
        object_type: t.into(),
        action,
        level,
    }
}

/// Director (1) > Manager (2) > Rep (3), and a Peer (4) beside the Director. Every
/// role may view and edit its own deals.
fn chart(owd: OrgWideDefault, via_hierarchy: bool) -> OrgSnapshot {
    let mut s = OrgSnapshot::default();
    s.object_types.push(ObjectTypeRow {
        name: "deals".into(),
        org_wide_default: owd,
        grant_via_hierarchy: via_hierarchy,
    });
    s.roles = vec![
        role(1, None),
        role(2, Some(1)),
        role(3, Some(2)),
        role(4, None),
    ];
    for r in 1..=4 {
        for a in Action::ALL.iter().copied() {
            s.role_permissions.push(perm(r, "deals", a, Level::Owned));
        }
    }
    s
}

fn verdict(s: &OrgSnapshot, r: &SharingRuleRow) -> RuleVerdict {
    let org = Org::new(s.clone());
    let compiled = CompiledOrg::compile(&org);
    rule_verdict(&org, &compiled, r)
}

const ROLE: RuleScope = RuleScope::Role;
const TREE: RuleScope = RuleScope::RoleAndSubordinates;

#[test]
fn a_rule_upwards_the_hierarchy_gives_nothing() {
    let s = chart(OrgWideDefault::Private, true);
    // Reps' deals to the Director and their subordinates: the Director and the
    // Manager see them already; the Rep role itself is in the target: it gains peers.
    let r = rule(1, Some("deals"), (3, ROLE), (1, TREE), RuleAccess::Read);
    assert_eq!(verdict(&s, &r), RuleVerdict::Grants);
    // To the Director alone: nothing new.
    let r = rule(
        1,
        Some("deals"),
        (3, TREE),
        (1, ROLE),
        RuleAccess::ReadWrite,
    );
    assert!(matches!(verdict(&s, &r), RuleVerdict::Redundant(w) if w.contains("hierarchy")));
    // To the Manager and the Director through a rule for every type.
    let r = rule(1, None, (3, ROLE), (2, ROLE), RuleAccess::Read);
    assert!(matches!(verdict(&s, &r), RuleVerdict::Redundant(_)));
}

#[test]
fn sideways_downwards_and_within_a_role_rules_give() {
    let s = chart(OrgWideDefault::Private, true);
    for r in [
        rule(1, Some("deals"), (3, ROLE), (4, ROLE), RuleAccess::Read),
        rule(1, Some("deals"), (1, ROLE), (3, ROLE), RuleAccess::Read),
        rule(1, Some("deals"), (3, ROLE), (3, ROLE), RuleAccess::Read),
        rule(1, Some("deals"), (2, TREE), (1, ROLE), RuleAccess::Read),
    ] {
        let expected = if r.source_role == 2 {
            // The Manager's tree is below the Director: nothing new.
            "redundant"
        } else {
            "grants"
        };
        let got = match verdict(&s, &r) {
            RuleVerdict::Grants => "grants",
            RuleVerdict::Redundant(_) => "redundant",
            RuleVerdict::CoveredByDefault => "default",
        };
        assert_eq!(got, expected, "{r:?}");
    }
}

#[test]
fn a_type_without_hierarchy_makes_the_upward_rule_useful() {
    let s = chart(OrgWideDefault::Private, false);
    let r = rule(1, Some("deals"), (3, ROLE), (1, ROLE), RuleAccess::Read);
    assert_eq!(verdict(&s, &r), RuleVerdict::Grants);
}

#[test]
fn org_wide_defaults_cover_what_they_open() {
    let s = chart(OrgWideDefault::PublicRead, true);
    let read = rule(1, Some("deals"), (3, ROLE), (4, ROLE), RuleAccess::Read);
    assert_eq!(verdict(&s, &read), RuleVerdict::CoveredByDefault);
    // public_read does not open edit: a read_write rule still gives edit.
    let rw = rule(
        1,
        Some("deals"),
        (3, ROLE),
        (4, ROLE),
        RuleAccess::ReadWrite,
    );
    assert_eq!(verdict(&s, &rw), RuleVerdict::Grants);
    let s = chart(OrgWideDefault::PublicReadWrite, true);
    assert_eq!(verdict(&s, &rw), RuleVerdict::CoveredByDefault);
    // A rule for every type is covered only when every type's default covers it.
    let all = rule(1, None, (3, ROLE), (4, ROLE), RuleAccess::Read);
    assert_eq!(verdict(&s, &all), RuleVerdict::CoveredByDefault);
    let mut s2 = s.clone();
    s2.object_types.push(ObjectTypeRow {
        name: "contacts".into(),
        org_wide_default: OrgWideDefault::Private,
        grant_via_hierarchy: true,
    });
    assert_eq!(verdict(&s2, &all), RuleVerdict::Grants);
}

#[test]
fn a_target_holding_all_needs_no_rule() {
    let mut s = chart(OrgWideDefault::Private, true);
    s.role_permissions
        .push(perm(4, "deals", Action::View, Level::All));
    let read = rule(1, Some("deals"), (3, ROLE), (4, ROLE), RuleAccess::Read);
    assert!(matches!(verdict(&s, &read), RuleVerdict::Redundant(w) if w.contains("level all")));
    // Edit is still owned: a read_write rule gives edit.
    let rw = rule(
        1,
        Some("deals"),
        (3, ROLE),
        (4, ROLE),
        RuleAccess::ReadWrite,
    );
    assert_eq!(verdict(&s, &rw), RuleVerdict::Grants);
    // An admin role holds all of everything.
    s.roles[3].is_admin = true;
    assert!(matches!(verdict(&s, &rw), RuleVerdict::Redundant(_)));
}

#[test]
fn unknown_roles_types_and_other_companies_are_not_judged() {
    let s = chart(OrgWideDefault::PublicReadWrite, true);
    for r in [
        rule(1, Some("nope"), (3, ROLE), (4, ROLE), RuleAccess::Read),
        rule(1, Some("deals"), (99, ROLE), (4, ROLE), RuleAccess::Read),
        rule(1, Some("deals"), (3, ROLE), (99, ROLE), RuleAccess::Read),
    ] {
        assert_eq!(verdict(&s, &r), RuleVerdict::Grants, "{r:?}");
    }
    let mut other = rule(1, Some("deals"), (3, ROLE), (4, ROLE), RuleAccess::Read);
    other.company_id = 2;
    assert_eq!(verdict(&s, &other), RuleVerdict::Grants);
}

#[test]
fn rule_advice_filters_by_company_and_orders_by_id() {
    let mut s = chart(OrgWideDefault::PublicRead, true);
    s.sharing_rules = vec![
        rule(7, Some("deals"), (3, ROLE), (4, ROLE), RuleAccess::Read),
        rule(
            5,
            Some("deals"),
            (3, ROLE),
            (1, ROLE),
            RuleAccess::ReadWrite,
        ),
        rule(
            6,
            Some("deals"),
            (3, ROLE),
            (4, ROLE),
            RuleAccess::ReadWrite,
        ),
    ];
    let org = Org::new(s);
    let compiled = CompiledOrg::compile(&org);
    let all = rule_advice(&org, &compiled, None);
    assert_eq!(
        all.iter().map(|a| a.rule_id).collect::<Vec<_>>(),
        vec![5, 7]
    );
    assert!(matches!(all[0].verdict, RuleVerdict::Redundant(_)));
    assert_eq!(all[1].verdict, RuleVerdict::CoveredByDefault);
    assert!(rule_advice(&org, &compiled, Some(2)).is_empty());
}

/// A random company: roles in a forest (each reports to a lower id, or nobody),
/// some based on others, random levels and defaults, users holding one to three
/// roles, and random rules.
fn random_org(rng: &mut rand::rngs::StdRng) -> OrgSnapshot {
    let mut s = OrgSnapshot::default();
    let defaults = [
        OrgWideDefault::Private,
        OrgWideDefault::PublicRead,
        OrgWideDefault::PublicReadWrite,
    ];
    for t in ["deals", "contacts"] {
        s.object_types.push(ObjectTypeRow {
            name: t.into(),
            org_wide_default: defaults[rng.gen_range(0..3)],
            grant_via_hierarchy: rng.gen_bool(0.8),
        });
    }
    let n: i64 = rng.gen_range(2..9);
    for id in 1..=n {
        let mut r = role(
            id,
            (id > 1 && rng.gen_bool(0.8)).then(|| rng.gen_range(1..id)),
        );
        r.based_on = (id > 1 && rng.gen_bool(0.2)).then(|| rng.gen_range(1..id));
        r.is_admin = rng.gen_bool(0.05);
        s.roles.push(r);
        for t in ["deals", "contacts"] {
            for a in Action::ALL.iter().copied() {
                let l = [Level::None, Level::Owned, Level::Owned, Level::All][rng.gen_range(0..4)];
                s.role_permissions.push(perm(id, t, a, l));
            }
        }
    }
    for u in 1..=rng.gen_range(2..10) {
        s.users.push(UserRow {
            id: 100 + u,
            company_id: 1,
            name: None,
            status: Status::Active,
            is_superuser: false,
            is_super_company_member: false,
        });
        for _ in 0..rng.gen_range(1..4) {
            s.user_roles.push(UserRoleRow {
                user_id: 100 + u,
                role_id: rng.gen_range(1..=n),
            });
        }
    }
    let scopes = [ROLE, TREE];
    for id in 1..=rng.gen_range(1..5) {
        s.sharing_rules.push(rule(
            id,
            [Some("deals"), Some("contacts"), None][rng.gen_range(0..3)],
            (rng.gen_range(1..=n), scopes[rng.gen_range(0..2)]),
            (rng.gen_range(1..=n), scopes[rng.gen_range(0..2)]),
            [RuleAccess::Read, RuleAccess::ReadWrite][rng.gen_range(0..2)],
        ));
    }
    s
}

/// Every decision of every user about every owner (with and without an assignee),
/// type and action.
fn decisions(s: &OrgSnapshot, with_assignees: bool) -> Vec<bool> {
    let org = Org::new(s.clone());
    let c = CompiledOrg::compile(&org);
    let users: Vec<i64> = s.users.iter().map(|u| u.id).collect();
    let mut out = Vec::new();
    for t in ["deals", "contacts"] {
        for a in Action::ALL.iter().copied() {
            for &v in &users {
                for &o in &users {
                    out.push(c.decide(t, a, Some(o), Some(1), v, None).allowed);
                    for &x in users.iter().filter(|_| with_assignees) {
                        out.push(c.decide(t, a, Some(o), Some(1), v, Some(x)).allowed);
                    }
                }
            }
        }
    }
    out
}

#[test]
fn removing_a_rule_judged_to_give_nothing_changes_no_decision() {
    let (mut judged, mut grants) = (0, 0);
    for seed in 0..600 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let s = random_org(&mut rng);
        let org = Org::new(s.clone());
        let compiled = CompiledOrg::compile(&org);
        for advice in rule_advice(&org, &compiled, None) {
            judged += 1;
            let mut without = s.clone();
            without.sharing_rules.retain(|r| r.id != advice.rule_id);
            assert_eq!(
                decisions(&s, true),
                decisions(&without, true),
                "seed {seed}: rule {} was judged {:?}",
                advice.rule_id,
                advice.verdict
            );
        }
        grants += s.sharing_rules.len();
    }
    // The random orgs exercise both answers.
    assert!(judged > 50 && judged < grants, "{judged} of {grants}");
}

/// The converse, where a user can be given the roles: for a rule judged to give,
/// one user holding only a target role gains a decision about one user holding only
/// the source role when the rule is the only rule.
#[test]
fn a_rule_judged_to_give_gives_to_someone() {
    let mut checked = 0;
    for seed in 0..300 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let base = random_org(&mut rng);
        for r in &base.sharing_rules {
            let mut s = base.clone();
            s.sharing_rules = vec![r.clone()];
            s.users.clear();
            s.user_roles.clear();
            let org = Org::new(s.clone());
            let compiled = CompiledOrg::compile(&org);
            if rule_verdict(&org, &compiled, r) != RuleVerdict::Grants {
                continue;
            }
            // Two users per role (1000 + id, 2000 + id): a role's own records
            // reach its peers.
            for role in &s.roles {
                for base in [1000, 2000] {
                    s.users.push(UserRow {
                        id: base + role.id,
                        company_id: 1,
                        name: None,
                        status: Status::Active,
                        is_superuser: false,
                        is_super_company_member: false,
                    });
                    s.user_roles.push(UserRoleRow {
                        user_id: base + role.id,
                        role_id: role.id,
                    });
                }
            }
            // A target role with level `none` gains only with another role that
            // lifts it: give every user a role with `owned` everywhere too, below
            // nobody and above nobody (a new root with no subordinates).
            let lift = 10_000;
            s.roles.push(role(lift, None));
            for t in ["deals", "contacts"] {
                for a in Action::ALL.iter().copied() {
                    s.role_permissions.push(perm(lift, t, a, Level::Owned));
                }
            }
            let users: Vec<i64> = s.users.iter().map(|u| u.id).collect();
            for u in users {
                s.user_roles.push(UserRoleRow {
                    user_id: u,
                    role_id: lift,
                });
            }
            let mut without = s.clone();
            without.sharing_rules.clear();
            assert_ne!(
                decisions(&s, false),
                decisions(&without, false),
                "seed {seed}: rule {r:?} was judged to give"
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
}

//! Record shares in the engine: who a share reaches, what it allows, and who may
//! grant it (docs/concepts.md, "Record shares").

use super::engine::{CompiledOrg, Reason};
use super::org::{Org, OrgSnapshot, UserRoleRow, UserRow};
use super::shares::{judge_share, may_unshare, Grantee, ShareGrant, ShareRefusal};
use super::types::{Action, RuleAccess, RuleScope, Status};

/// Company 1: Boss (role 1) > Lead (role 2) > Rep (role 3), Rep2 (role 4, peer of
/// Rep under Lead); users 10 (Boss), 20 (Lead), 30 (Rep), 31 (Rep), 40 (Rep2).
/// Company 2: role 9, user 90. `deals` private, Rep level owned everywhere.
fn org() -> Org {
    let perms: Vec<serde_json::Value> = [1, 2, 3, 4, 9]
        .iter()
        .flat_map(|r| {
            ["create", "view", "edit", "delete"].iter().map(move |a| {
                serde_json::json!({"role_id": r, "object_type": "deals", "action": a, "level": "owned"})
            })
        })
        .collect();
    let json = serde_json::json!({
        "object_types": [{"name": "deals", "org_wide_default": "private", "grant_via_hierarchy": true}],
        "roles": [
            {"id": 1, "company_id": 1, "name": "Boss", "reports_to": null, "based_on": null, "is_admin": false, "is_default": false},
            {"id": 2, "company_id": 1, "name": "Lead", "reports_to": 1, "based_on": null, "is_admin": false, "is_default": false},
            {"id": 3, "company_id": 1, "name": "Rep", "reports_to": 2, "based_on": null, "is_admin": false, "is_default": true},
            {"id": 4, "company_id": 1, "name": "Rep2", "reports_to": 2, "based_on": null, "is_admin": false, "is_default": false},
            {"id": 9, "company_id": 2, "name": "Other", "reports_to": null, "based_on": null, "is_admin": false, "is_default": true}
        ],
        "role_permissions": perms,
        "role_privileges": [], "sharing_rules": [], "agreements": [], "agreement_permissions": []
    });
    let mut snapshot: OrgSnapshot = serde_json::from_value(json).unwrap();
    for (id, company, role) in [
        (10, 1, 1),
        (20, 1, 2),
        (30, 1, 3),
        (31, 1, 3),
        (40, 1, 4),
        (90, 2, 9),
    ] {
        snapshot.users.push(UserRow {
            id,
            company_id: company,
            name: None,
            status: Status::Active,
            is_superuser: false,
            is_super_company_member: false,
        });
        snapshot.user_roles.push(UserRoleRow {
            user_id: id,
            role_id: role,
        });
    }
    Org::new(snapshot)
}

fn share(id: i64, grantee: Grantee, access: RuleAccess) -> ShareGrant {
    ShareGrant {
        id,
        company: 1,
        grantee,
        access,
    }
}

#[test]
fn a_user_share_reaches_only_its_user_and_never_grants_delete() {
    let c = CompiledOrg::compile(&org());
    let shares = [share(7, Grantee::User(31), RuleAccess::Read)];
    let d = c.decide_record("deals", Action::View, Some(30), Some(1), 31, &[], &shares);
    assert!(d.allowed);
    assert_eq!(
        d.reason,
        Reason::RecordShare {
            share_id: 7,
            via_role: None
        }
    );
    assert!(
        !c.decide_record("deals", Action::Edit, Some(30), Some(1), 31, &[], &shares)
            .allowed
    );
    assert!(
        !c.decide_record("deals", Action::View, Some(30), Some(1), 40, &[], &shares)
            .allowed
    );
    let rw = [share(8, Grantee::User(31), RuleAccess::ReadWrite)];
    assert!(
        c.decide_record("deals", Action::Edit, Some(30), Some(1), 31, &[], &rw)
            .allowed
    );
    assert!(
        !c.decide_record("deals", Action::Delete, Some(30), Some(1), 31, &[], &rw)
            .allowed
    );
    assert!(
        !c.decide_record("deals", Action::Create, Some(30), Some(1), 31, &[], &rw)
            .allowed
    );
}

#[test]
fn role_shares_reach_down_with_subordinates_and_never_up() {
    let c = CompiledOrg::compile(&org());
    let role_only = [share(
        1,
        Grantee::Role {
            role: 2,
            scope: RuleScope::Role,
        },
        RuleAccess::Read,
    )];
    let subtree = [share(
        2,
        Grantee::Role {
            role: 2,
            scope: RuleScope::RoleAndSubordinates,
        },
        RuleAccess::Read,
    )];
    // Record of 90's company never; record of user 10 (Boss), seen by others only by share.
    let can = |v: i64, s: &[ShareGrant]| {
        c.decide_record("deals", Action::View, Some(10), Some(1), v, &[], s)
            .allowed
    };
    assert!(can(20, &role_only) && !can(30, &role_only) && !can(40, &role_only));
    assert!(can(20, &subtree) && can(30, &subtree) && can(31, &subtree) && can(40, &subtree));
    let to_rep = [share(
        3,
        Grantee::Role {
            role: 3,
            scope: RuleScope::RoleAndSubordinates,
        },
        RuleAccess::Read,
    )];
    // Not propagated up: the Lead above Rep does not gain the Boss's record.
    assert!(can(30, &to_rep) && !can(20, &to_rep));
    assert_eq!(c.share_anchors(30).own, vec![3]);
    assert_eq!(c.share_anchors(30).above, vec![1, 2]);
}

#[test]
fn shares_do_not_cross_companies_or_outlive_a_company_move() {
    let c = CompiledOrg::compile(&org());
    let to_other = [ShareGrant {
        id: 1,
        company: 2,
        grantee: Grantee::User(90),
        access: RuleAccess::Read,
    }];
    assert!(
        !c.decide_record("deals", Action::View, Some(30), Some(1), 90, &[], &to_other)
            .allowed
    );
    // A share made in company 1, record since moved to company 2.
    let old = [share(2, Grantee::User(90), RuleAccess::Read)];
    assert!(
        !c.decide_record("deals", Action::View, Some(90), Some(2), 31, &[], &old)
            .allowed
    );
}

#[test]
fn participants_count_as_assignees_for_them_and_their_managers() {
    let c = CompiledOrg::compile(&org());
    let record = |v: i64, people: &[i64]| {
        c.decide_people("deals", Action::View, Some(40), Some(1), v, people)
    };
    assert!(!record(31, &[]).allowed);
    assert_eq!(record(31, &[30, 31]).reason, Reason::Assignee);
    // The Lead sees Rep 30's records through the hierarchy anyway; the Boss too.
    assert!(record(10, &[31]).allowed);
    assert!(
        !record(30, &[31]).allowed,
        "a peer of a participant gains nothing"
    );
}

#[test]
fn who_can_access_is_exactly_the_users_decide_record_allows() {
    let c = CompiledOrg::compile(&org());
    let shares = [
        share(1, Grantee::User(40), RuleAccess::ReadWrite),
        share(
            2,
            Grantee::Role {
                role: 3,
                scope: RuleScope::Role,
            },
            RuleAccess::Read,
        ),
    ];
    for action in [Action::View, Action::Edit, Action::Delete] {
        let listed: Vec<i64> = c
            .who_can_access("deals", action, (Some(31), Some(1), &[]), &shares)
            .into_iter()
            .map(|(u, _)| u)
            .collect();
        let expected: Vec<i64> = [10, 20, 30, 31, 40, 90]
            .into_iter()
            .filter(|v| {
                c.decide_record("deals", action, Some(31), Some(1), *v, &[], &shares)
                    .allowed
            })
            .collect();
        assert_eq!(listed, expected, "{action:?}");
    }
    let view: Vec<i64> = c
        .who_can_access("deals", Action::View, (Some(31), Some(1), &[]), &shares)
        .into_iter()
        .map(|x| x.0)
        .collect();
    assert_eq!(view, vec![10, 20, 30, 31, 40]);
}

#[test]
fn who_may_share_and_unshare() {
    use Action::*;
    let all = |_a: Action| true;
    let view_only = |a: Action| a == View;
    let nothing = |_a: Action| false;
    assert_eq!(
        judge_share(all, false, false, RuleAccess::ReadWrite),
        Ok(())
    );
    assert_eq!(
        judge_share(view_only, false, false, RuleAccess::Read),
        Err(ShareRefusal::MayNotShare)
    );
    assert_eq!(
        judge_share(view_only, true, false, RuleAccess::Read),
        Ok(())
    );
    assert_eq!(
        judge_share(view_only, true, false, RuleAccess::ReadWrite),
        Err(ShareRefusal::AboveOwnAccess)
    );
    assert_eq!(
        judge_share(nothing, true, false, RuleAccess::Read),
        Err(ShareRefusal::NotVisible)
    );
    assert_eq!(
        judge_share(nothing, false, true, RuleAccess::ReadWrite),
        Ok(())
    );
    assert!(may_unshare(
        5,
        Some(5),
        Grantee::User(9),
        false,
        false,
        || false
    ));
    assert!(may_unshare(
        9,
        Some(5),
        Grantee::User(9),
        false,
        false,
        || false
    ));
    assert!(!may_unshare(
        7,
        Some(5),
        Grantee::User(9),
        false,
        false,
        || false
    ));
    assert!(may_unshare(
        7,
        Some(5),
        Grantee::User(9),
        false,
        false,
        || true
    ));
}

/// The hole the share check of the effect closes: a user who adds themselves to a
/// role gains the role's record shares, and the check over owners and companies
/// (`first_escalation`) does not see it; the share profile does.
#[test]
fn joining_a_role_reaches_its_shares_and_only_the_share_profile_sees_it() {
    use super::effect::{first_escalation, share_candidates, share_gives, Signatures, State};
    let before = org();
    let mut s = before.snapshot.clone();
    s.user_roles.push(UserRoleRow {
        user_id: 40,
        role_id: 3,
    });
    let after = Org::new(s);
    let (cb, ca) = (CompiledOrg::compile(&before), CompiledOrg::compile(&after));
    let (sb, sa) = (Signatures::of(&before, &cb), Signatures::of(&after, &ca));
    let state = |org, compiled, signatures| State {
        org,
        compiled,
        signatures,
    };
    let gain = first_escalation(
        state(&before, &cb, &sb),
        state(&after, &ca, &sa),
        40,
        &|_| false,
    );
    assert_eq!(
        gain, None,
        "no owner's records are gained: the old check accepts it"
    );
    let to_reps = share(
        5,
        Grantee::Role {
            role: 3,
            scope: RuleScope::Role,
        },
        RuleAccess::Read,
    );
    let users = after.snapshot.users.iter().map(|u| u.id);
    assert_eq!(share_candidates(&cb, &ca, users, &["deals"]), vec![40]);
    assert!(!share_gives(&cb, "deals", &to_reps, 40, Action::View));
    assert!(share_gives(&ca, "deals", &to_reps, 40, Action::View));
    assert!(!share_gives(&ca, "deals", &to_reps, 40, Action::Edit));
}

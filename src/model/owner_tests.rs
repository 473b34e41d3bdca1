//! The company owner (docs/concepts.md, "The company owner"): admin rights by
//! ownership in the permission algebra, the compiled engine and the check by
//! effect; pending users hold nothing whatever their roles or ownership.

use super::authority::Actor;
use super::effect::{first_escalation, Signatures, State};
use super::engine::CompiledOrg;
use super::org::*;
use super::perms::*;
use super::types::*;

/// Company 1: role 1 Administrator, 2 Manager (all), 3 User (owned, under 2);
/// company 2: role 4 User. Users: 10 the owner (a User), 11 a User, 12 pending
/// (Administrator), 20 of company 2.
fn org(owner: Option<i64>) -> OrgSnapshot {
    let mut s = OrgSnapshot::default();
    s.object_types.push(ObjectTypeRow {
        name: "deals".into(),
        org_wide_default: OrgWideDefault::Private,
        grant_via_hierarchy: true,
    });
    for (id, company, name, reports_to, admin) in [
        (1, 1, "Administrator", None, true),
        (2, 1, "Manager", Some(1), false),
        (3, 1, "User", Some(2), false),
        (4, 2, "User", None, false),
    ] {
        s.roles.push(RoleRow {
            id,
            company_id: company,
            name: name.into(),
            reports_to,
            based_on: None,
            is_admin: admin,
            is_default: false,
        });
    }
    for (role, level) in [(2, Level::All), (3, Level::Owned), (4, Level::Owned)] {
        for a in Action::ALL {
            s.role_permissions.push(RolePermissionRow {
                role_id: role,
                object_type: "deals".into(),
                action: *a,
                level,
            });
        }
    }
    for (id, company, status, role) in [
        (10, 1, Status::Active, 3),
        (11, 1, Status::Active, 3),
        (12, 1, Status::Pending, 1),
        (20, 2, Status::Active, 4),
    ] {
        s.users.push(UserRow {
            id,
            company_id: company,
            name: None,
            status,
            is_superuser: false,
            is_super_company_member: false,
        });
        s.user_roles.push(UserRoleRow {
            user_id: id,
            role_id: role,
        });
    }
    s.companies.push(CompanyRow {
        id: 1,
        owner_user: owner,
    });
    s
}

#[test]
fn the_owner_is_an_admin_of_their_company_by_ownership() {
    let o = Org::new(org(Some(10)));
    assert_eq!(o.owner_of(1), Some(10));
    assert_eq!(o.owner_of(2), None);
    let p = user_permissions(&o, 10);
    assert!(p.admin && !p.superuser);
    assert_eq!(p.level("deals", Action::Delete), Level::All);
    assert!(p.has_privilege("manage_users") && !p.has_privilege("app.custom"));
    let doc = effective_perms(&o, 10).unwrap();
    assert!(doc.admin);
    assert_eq!(doc.roles, vec!["User".to_string()]);
    // Their roles alone give them nothing of the kind: another User is no admin.
    assert!(!user_permissions(&o, 11).admin);
    // Without the ownership, the same user is a plain User.
    let plain = Org::new(org(None));
    assert!(!user_permissions(&plain, 10).admin);
    // The engine agrees: every record of their company, none of another's.
    let c = CompiledOrg::compile(&o);
    let decide = |viewer, owner, company| {
        c.decide(
            "deals",
            Action::Edit,
            Some(owner),
            Some(company),
            viewer,
            None,
        )
        .allowed
    };
    assert!(decide(10, 11, 1));
    assert!(!decide(10, 20, 2));
    assert!(!decide(11, 10, 1));
    assert!(
        !CompiledOrg::compile(&plain)
            .decide("deals", Action::Edit, Some(11), Some(1), 10, None)
            .allowed
    );
}

#[test]
fn an_owner_of_another_company_or_an_inactive_one_has_nothing_from_it() {
    // An owner row naming a user of another company gives nothing (the triggers
    // refuse it; the model does not trust it).
    let mut s = org(None);
    s.companies[0].owner_user = Some(20);
    let o = Org::new(s);
    assert!(!user_permissions(&o, 20).admin);
    // A pending owner (user 12, who also holds Administrator), like any pending
    // user, holds nothing whatever their roles.
    let o = Org::new(org(Some(12)));
    let u = 12;
    let p = user_permissions(&o, u);
    assert!(!p.admin && p.privileges.is_empty());
    assert_eq!(p.level("deals", Action::View), Level::None);
    let doc = effective_perms(&o, u).unwrap();
    assert!(!doc.admin && doc.privileges.is_empty());
    let c = CompiledOrg::compile(&o);
    for owner in [u, 11] {
        assert!(
            !c.decide("deals", Action::View, Some(owner), Some(1), u, None)
                .allowed
        );
    }
    assert!(Actor::resolve(&o, u).is_err());
}

#[test]
fn handing_over_is_for_the_owner_and_is_no_escalation_of_theirs() {
    let before = Org::new(org(Some(10)));
    let after = Org::new(org(Some(11)));
    let (cb, ca) = (CompiledOrg::compile(&before), CompiledOrg::compile(&after));
    let (sb, sa) = (Signatures::of(&before, &cb), Signatures::of(&after, &ca));
    let judge = |actor| {
        first_escalation(
            State {
                org: &before,
                compiled: &cb,
                signatures: &sb,
            },
            State {
                org: &after,
                compiled: &ca,
                signatures: &sa,
            },
            actor,
            &|_| false,
        )
    };
    // The owner held admin rights: handing them on gives nobody more than they had.
    assert_eq!(judge(10), None);
    // The same change by a plain user hands out admin rights they lack.
    let gain = judge(11).expect("an escalation");
    assert_eq!(gain.user, 11);
    // Authority: the owner may, a superuser may, nobody else.
    let owner = Actor::resolve(&before, 10).unwrap();
    assert!(owner.require_ownership_transfer(1, Some(10)).is_ok());
    let other = Actor::resolve(&before, 11).unwrap();
    let d = other.require_ownership_transfer(1, Some(10)).unwrap_err();
    assert!(d.message.contains("viewer 11") && d.message.contains("owned by user 10"));
    let d = other.require_ownership_transfer(1, None).unwrap_err();
    assert!(d.message.contains("no owner"));
    assert!(other.require_self(11, "x").is_ok());
    assert!(other.require_self(10, "delete user 10").is_err());
}

//! Transfers (docs/concepts.md, "Transfers") and the inactive viewer's reach, on a
//! small org: Administrator (1) > Manager (2) > Rep (3); users 10 admin, 11 manager,
//! 12 and 13 reps, 14 a disabled manager; company 2 has user 20 (a super member) and
//! 21 (a superuser). Reps share read_write with each other by a rule.

use super::engine::{CompiledOrg, TransferRefusal};
use super::org::*;
use super::types::*;

fn org() -> CompiledOrg {
    let mut s = OrgSnapshot::default();
    s.object_types.push(ObjectTypeRow {
        name: "deals".into(),
        org_wide_default: OrgWideDefault::Private,
        grant_via_hierarchy: true,
    });
    for (id, company, name, reports_to, admin) in [
        (1, 1, "Administrator", None, true),
        (2, 1, "Manager", Some(1), false),
        (3, 1, "Rep", Some(2), false),
        (4, 2, "Administrator", None, true),
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
    for (role, level) in [(2, Level::Owned), (3, Level::Owned)] {
        for a in Action::ALL {
            s.role_permissions.push(RolePermissionRow {
                role_id: role,
                object_type: "deals".into(),
                action: *a,
                level,
            });
        }
    }
    s.sharing_rules.push(SharingRuleRow {
        id: 1,
        company_id: 1,
        object_type: Some("deals".into()),
        source_role: 3,
        source_scope: RuleScope::Role,
        target_role: 3,
        target_scope: RuleScope::Role,
        access: RuleAccess::ReadWrite,
    });
    for (id, company, status, su, member, role) in [
        (10, 1, Status::Active, false, false, 1),
        (11, 1, Status::Active, false, false, 2),
        (12, 1, Status::Active, false, false, 3),
        (13, 1, Status::Active, false, false, 3),
        (14, 1, Status::Disabled, false, false, 2),
        (20, 2, Status::Active, false, true, 4),
        (21, 2, Status::Active, true, false, 4),
    ] {
        s.users.push(UserRow {
            id,
            company_id: company,
            name: None,
            status,
            is_superuser: su,
            is_super_company_member: member,
        });
        s.user_roles.push(UserRoleRow {
            user_id: id,
            role_id: role,
        });
    }
    CompiledOrg::compile(&Org::new(s))
}

fn transfer(
    o: &CompiledOrg,
    from: (i64, i64),
    to: (i64, i64),
    viewer: i64,
) -> Result<(), TransferRefusal> {
    o.transfer(
        "deals",
        (Some(from.0), Some(from.1)),
        (Some(to.0), Some(to.1)),
        viewer,
    )
}

#[test]
fn owners_managers_and_edit_all_transfer_others_do_not() {
    let o = org();
    // The manager moves a rep's record to the other rep, or to himself.
    assert_eq!(transfer(&o, (12, 1), (13, 1), 11), Ok(()));
    assert_eq!(transfer(&o, (12, 1), (11, 1), 11), Ok(()));
    // The admin (edit all) moves anything in the company.
    assert_eq!(transfer(&o, (11, 1), (12, 1), 10), Ok(()));
    // A rep who edits a peer's record through the rule cannot take it…
    assert!(
        o.decide("deals", Action::Edit, Some(13), Some(1), 12, None)
            .allowed
    );
    assert_eq!(
        transfer(&o, (13, 1), (12, 1), 12),
        Err(TransferRefusal::NotHeld)
    );
    // …nor hand their own record to the peer (not below them).
    assert_eq!(
        transfer(&o, (12, 1), (13, 1), 12),
        Err(TransferRefusal::CannotCreate)
    );
    // Nobody but a superuser changes the company, a super member included.
    assert_eq!(
        transfer(&o, (12, 1), (12, 2), 10),
        Err(TransferRefusal::CompanyChange)
    );
    assert_eq!(
        transfer(&o, (12, 1), (20, 2), 20),
        Err(TransferRefusal::CompanyChange)
    );
    assert_eq!(transfer(&o, (12, 1), (20, 2), 21), Ok(()));
    // Inactive viewers transfer nothing, not even their own records.
    assert_eq!(
        transfer(&o, (14, 1), (14, 1), 14),
        Err(TransferRefusal::InactiveViewer)
    );
}

#[test]
fn inactive_viewers_reach_nobody() {
    let o = org();
    assert!(o.can_see(12, 11));
    assert!(!o.can_see(12, 14));
    assert!(!o.can_see(14, 14));
    assert!(o.reach(14).is_empty());
    assert_eq!(o.reach(11), vec![11, 12, 13]);
}

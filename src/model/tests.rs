//! Unit tests of the permission algebra on small hand-built organizations.

use super::org::*;
use super::perms::*;
use super::types::*;

/// A tiny builder so each test reads like the org chart it describes.
#[derive(Default)]
struct Builder(OrgSnapshot);

impl Builder {
    fn types(mut self, names: &[&str]) -> Self {
        for n in names {
            self.0.object_types.push(ObjectTypeRow {
                name: n.to_string(),
                org_wide_default: OrgWideDefault::Private,
                grant_via_hierarchy: true,
            });
        }
        self
    }
    fn role(mut self, id: i64, name: &str, based_on: Option<i64>, admin: bool) -> Self {
        self.0.roles.push(RoleRow {
            id,
            company_id: 1,
            name: name.into(),
            reports_to: None,
            based_on,
            is_admin: admin,
            is_default: false,
        });
        self
    }
    fn grant(mut self, role_id: i64, t: &str, action: Action, level: Level) -> Self {
        self.0.role_permissions.push(RolePermissionRow {
            role_id,
            object_type: t.into(),
            action,
            level,
        });
        self
    }
    fn privilege(mut self, role_id: i64, p: &str) -> Self {
        self.0.role_privileges.push(RolePrivilegeRow {
            role_id,
            privilege: p.into(),
        });
        self
    }
    fn user(mut self, id: i64, status: Status, su: bool, roles: &[i64]) -> Self {
        self.0.users.push(UserRow {
            id,
            company_id: 1,
            name: None,
            status,
            is_superuser: su,
            is_super_company_member: false,
        });
        for r in roles {
            self.0.user_roles.push(UserRoleRow {
                user_id: id,
                role_id: *r,
            });
        }
        self
    }
    fn build(self) -> Org {
        Org::new(self.0)
    }
}

fn level(org: &Org, user: i64, t: &str, a: Action) -> Level {
    user_permissions(org, user).level(t, a)
}

#[test]
fn inheritance_cascades_three_levels_and_highest_wins() {
    let org = Builder::default()
        .types(&["deals", "contacts", "leads"])
        .role(1, "Base", None, false)
        .role(2, "User", Some(1), false)
        .role(3, "Salesperson", Some(2), false)
        .role(4, "Senior", Some(3), false)
        .grant(1, "leads", Action::View, Level::All)
        .grant(2, "deals", Action::View, Level::Owned)
        .grant(3, "deals", Action::View, Level::None)
        .grant(4, "contacts", Action::Create, Level::Owned)
        .privilege(1, "app.base")
        .privilege(3, "app.insight")
        .user(10, Status::Active, false, &[4])
        .build();
    assert_eq!(level(&org, 10, "leads", Action::View), Level::All);
    assert_eq!(level(&org, 10, "deals", Action::View), Level::Owned);
    assert_eq!(level(&org, 10, "contacts", Action::Create), Level::Owned);
    assert_eq!(level(&org, 10, "contacts", Action::View), Level::None);
    let set = user_permissions(&org, 10);
    assert!(set.has_privilege("app.base") && set.has_privilege("app.insight"));
    assert!(!set.has_privilege("billing"));
    // The middle of the chain sees only its own ancestors.
    let user_role = role_permissions(&org, 2);
    assert!(!user_role.has_privilege("app.insight"));
    assert_eq!(user_role.level("leads", Action::View), Level::All);
}

#[test]
fn a_cycle_in_based_on_does_not_hang() {
    let org = Builder::default()
        .types(&["deals"])
        .role(1, "A", Some(2), false)
        .role(2, "B", Some(1), false)
        .grant(2, "deals", Action::View, Level::All)
        .build();
    assert_eq!(org.based_on_chain(1), vec![1, 2]);
    assert_eq!(
        role_permissions(&org, 1).level("deals", Action::View),
        Level::All
    );
}

#[test]
fn roles_combine_per_type_and_action() {
    // Bitrix24: role 1 allows leads but not deals, role 2 the opposite.
    let org = Builder::default()
        .types(&["leads", "deals"])
        .role(1, "Leads", None, false)
        .role(2, "Deals", None, false)
        .grant(1, "leads", Action::View, Level::All)
        .grant(1, "deals", Action::View, Level::None)
        .grant(2, "deals", Action::View, Level::Owned)
        .grant(2, "deals", Action::Edit, Level::Owned)
        .privilege(1, "reports")
        .privilege(2, "app.crm")
        .user(1, Status::Active, false, &[1, 2])
        .user(2, Status::Active, false, &[1])
        .build();
    assert_eq!(level(&org, 1, "leads", Action::View), Level::All);
    assert_eq!(level(&org, 1, "deals", Action::View), Level::Owned);
    assert_eq!(level(&org, 1, "deals", Action::Edit), Level::Owned);
    assert_eq!(level(&org, 2, "deals", Action::View), Level::None);
    let doc = effective_perms(&org, 1).unwrap();
    assert_eq!(doc.roles, vec!["Deals".to_string(), "Leads".to_string()]);
    assert_eq!(
        doc.privileges,
        vec!["app.crm".to_string(), "reports".to_string()]
    );
}

#[test]
fn admin_role_and_admin_privilege_give_everything_of_the_system() {
    let org = Builder::default()
        .types(&["deals", "contacts"])
        .role(1, "Administrator", None, true)
        .role(2, "Ops", None, false)
        .role(3, "Based on admin", Some(1), false)
        .privilege(2, "admin")
        .user(1, Status::Active, false, &[1])
        .user(2, Status::Active, false, &[2])
        .user(3, Status::Active, false, &[3])
        .build();
    for u in [1, 2, 3] {
        let doc = effective_perms(&org, u).unwrap();
        assert!(doc.admin, "user {u}");
        assert!(!doc.superuser);
        for t in ["deals", "contacts"] {
            for a in Action::ALL {
                assert_eq!(doc.permissions[t][a], Level::All);
            }
        }
        assert_eq!(
            doc.privileges.len(),
            super::privileges::SYSTEM_PRIVILEGES.len()
        );
        let set = user_permissions(&org, u);
        assert!(set.has_privilege("manage_roles"));
        assert!(
            !set.has_privilege("app.crm"),
            "admin is not every custom privilege"
        );
    }
}

#[test]
fn superuser_has_everything_and_inactive_users_nothing() {
    let org = Builder::default()
        .types(&["deals"])
        .role(1, "Manager", None, false)
        .grant(1, "deals", Action::View, Level::All)
        .privilege(1, "reports")
        .user(1, Status::Active, true, &[])
        .user(2, Status::Pending, false, &[1])
        .user(3, Status::Disabled, true, &[1])
        .build();
    let su = user_permissions(&org, 1);
    assert!(su.superuser && su.has_privilege("app.anything"));
    assert_eq!(su.level("deals", Action::Delete), Level::All);
    for u in [2, 3] {
        let doc = effective_perms(&org, u).unwrap();
        assert!(!doc.superuser && !doc.admin, "user {u}");
        assert!(doc.privileges.is_empty());
        assert_eq!(doc.permissions["deals"][&Action::View], Level::None);
        assert_eq!(doc.roles, vec!["Manager".to_string()], "roles stay listed");
    }
    assert!(effective_perms(&org, 99).is_none());
}

#[test]
fn every_object_type_appears_with_missing_entries_as_none() {
    let org = Builder::default()
        .types(&["b_type", "a_type"])
        .role(1, "R", None, false)
        .grant(1, "b_type", Action::Create, Level::Owned)
        .user(1, Status::Active, false, &[1])
        .build();
    let doc = effective_perms(&org, 1).unwrap();
    let keys: Vec<&String> = doc.permissions.keys().collect();
    assert_eq!(keys, vec!["a_type", "b_type"]);
    let json = serde_json::to_value(&doc).unwrap();
    assert_eq!(json["permissions"]["a_type"]["view"], "none");
    assert_eq!(json["permissions"]["b_type"]["create"], "owned");
    assert_eq!(json["status"], "active");
}

#[test]
fn coherence_of_levels() {
    use Level::*;
    assert!(incoherence(&[All, All, Owned, Level::None]).is_none());
    assert!(incoherence(&[Level::None; 4]).is_none());
    assert_eq!(
        incoherence(&[Level::None, Owned, All, Level::None]),
        Some((Action::Edit, All, Action::View, Owned))
    );
    assert_eq!(
        incoherence(&[Level::None, All, Owned, All]),
        Some((Action::Delete, All, Action::Edit, Owned))
    );
}

#[test]
fn incoherence_has_one_message_for_statements_and_imports() {
    use Level::*;
    assert!(incoherence_message(&[All, All, Owned, Level::None]).is_none());
    assert_eq!(
        incoherence_message(&[Level::None, Owned, All, Level::None]),
        Some((
            "edit is \"all\" but view is \"owned\"".to_string(),
            "edit can be at most view (none < owned < all): raise view first, or lower edit"
                .to_string()
        ))
    );
    assert_eq!(
        incoherence_message(&[Level::None, All, Owned, All]),
        Some((
            "delete is \"all\" but edit is \"owned\"".to_string(),
            "delete can be at most edit (none < owned < all): raise edit first, or lower delete"
                .to_string()
        ))
    );
}

#[test]
fn escalation_is_what_the_granter_lacks() {
    let org = Builder::default()
        .types(&["deals"])
        .role(1, "Manager", None, false)
        .role(2, "Admin", None, true)
        .role(3, "User", None, false)
        .grant(1, "deals", Action::View, Level::All)
        .grant(3, "deals", Action::View, Level::Owned)
        .privilege(1, "manage_roles")
        .privilege(3, "app.crm")
        .build();
    let manager = role_permissions(&org, 1);
    assert_eq!(
        manager.first_excess(&role_permissions(&org, 2)),
        Some(Excess::Admin)
    );
    assert_eq!(
        manager.first_excess(&role_permissions(&org, 3)),
        Some(Excess::Privilege("app.crm".into()))
    );
    let admin = role_permissions(&org, 2);
    assert_eq!(admin.first_excess(&role_permissions(&org, 3)), None);
    let user = role_permissions(&org, 3);
    assert!(matches!(
        user.first_excess(&manager),
        Some(Excess::Level {
            wanted: Level::All,
            held: Level::Owned,
            ..
        })
    ));
}

/// One company whose `n` roles form a single chain, listed deepest first: role `k`
/// is `based_on` (or `reports_to`) role `k - 1`. Role 1 holds `deals` view `all`,
/// role `n / 2` holds `contacts` view `owned`; every role holds `deals` edit
/// `owned`. User `k` holds role `k`.
fn chain_org(n: i64, based_on: bool) -> Org {
    let mut b = Builder::default().types(&["deals", "contacts"]);
    for k in (1..=n).rev() {
        let parent = (k > 1).then_some(k - 1);
        b = b.role(
            k,
            &format!("r{k}"),
            if based_on { parent } else { None },
            false,
        );
        if !based_on {
            b.0.roles.last_mut().unwrap().reports_to = parent;
        }
        b = b
            .grant(k, "deals", Action::Edit, Level::Owned)
            .grant(k, "deals", Action::View, Level::Owned)
            .user(k, Status::Active, false, &[k]);
    }
    b.grant(1, "deals", Action::View, Level::All)
        .grant(n / 2, "contacts", Action::View, Level::Owned)
        .build()
}

/// A 20,000-role `based_on` chain compiles (iteratively: no recursion to overflow)
/// and every role inherits from all of its ancestors.
#[test]
fn a_long_based_on_chain_compiles_and_inherits() {
    use super::engine::CompiledOrg;
    let n = 20_000;
    let org = chain_org(n, true);
    let c = CompiledOrg::compile(&org);
    let deals = |u: i64, a: Action| c.all_rows_company("deals", a, u).is_some();
    for u in [1, 2, n / 2, n - 1, n] {
        assert!(
            deals(u, Action::View),
            "user {u} inherits view all from role 1"
        );
        assert!(!deals(u, Action::Edit), "user {u}: edit stays owned");
        assert!(c.can_access("deals", Action::Edit, Some(u), Some(1), u, None));
    }
    // contacts: from role n/2 down the chain only.
    for (u, held) in [(1, false), (n / 2 - 1, false), (n / 2, true), (n, true)] {
        assert_eq!(
            c.can_access("contacts", Action::View, Some(u), Some(1), u, None),
            held,
            "user {u}"
        );
    }
    assert_eq!(
        role_permissions(&org, n).level("contacts", Action::View),
        Level::Owned
    );
    assert_eq!(
        role_permissions(&org, n / 2 - 1).level("contacts", Action::View),
        Level::None
    );
    assert_eq!(org.based_on_chain(n).len(), n as usize);
    let matrix = role_matrix(&org);
    assert_eq!(matrix.len(), n as usize * 2 * 4);
    let deepest_view = matrix
        .iter()
        .find(|(_, r, t, a, _)| *r == n && t == "deals" && *a == Action::View)
        .unwrap();
    assert_eq!(deepest_view.4, Level::All);
}

/// A 20,000-role `reports_to` chain: everyone above reaches everyone below, never
/// the other way round.
#[test]
fn a_long_reports_to_chain_compiles_with_its_hierarchy() {
    use super::engine::CompiledOrg;
    let n = 20_000;
    let org = chain_org(n, false);
    let c = CompiledOrg::compile(&org);
    for (viewer, owner, seen) in [
        (1, n, true),
        (1, 2, true),
        (n / 2, n, true),
        (n - 1, n, true),
        (n, n - 1, false),
        (n, 1, false),
        (n / 2, n / 2 - 1, false),
    ] {
        assert_eq!(c.can_see(owner, viewer), seen, "{viewer} sees {owner}");
        assert_eq!(
            c.can_access("deals", Action::Edit, Some(owner), Some(1), viewer, None),
            seen,
            "{viewer} edits {owner}'s deal"
        );
    }
    assert_eq!(c.reach(n / 2).len(), (n / 2 + 1) as usize);
    assert_eq!(c.role_path(&org, n, 1).len(), n as usize);
}

/// Compile times of long chains (not asserted):
/// `PG_SHARING_CHAINS=4000,40000 cargo test --lib chain_compile_times -- --ignored --nocapture`
#[test]
#[ignore]
fn chain_compile_times() {
    use super::engine::CompiledOrg;
    let sizes = std::env::var("PG_SHARING_CHAINS").unwrap_or_else(|_| "4000,40000".into());
    for n in sizes.split(',').map(|s| s.trim().parse::<i64>().unwrap()) {
        for based_on in [true, false] {
            let org = chain_org(n, based_on);
            let start = std::time::Instant::now();
            let c = CompiledOrg::compile(&org);
            let took = start.elapsed();
            assert_eq!(c.role_count(), n as usize);
            let kind = if based_on { "based_on" } else { "reports_to" };
            println!("compile {n} roles, {kind} chain: {took:?}");
        }
    }
}

/// The memoized cascade gives every role exactly what walking its own chain gives,
/// on random `based_on` forests with cycles, dangling parents and admin roles.
#[test]
fn role_level_rows_match_each_roles_own_chain() {
    use rand::{Rng, SeedableRng};
    let types = ["deals", "contacts", "leads"];
    for seed in 0..200 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n: i64 = rng.gen_range(1..30);
        let mut b = Builder::default().types(&types);
        for id in 1..=n {
            let based_on = rng.gen_bool(0.8).then(|| rng.gen_range(1..=n + 2));
            b = b.role(id, &format!("r{id}"), based_on, rng.gen_bool(0.05));
            if rng.gen_bool(0.05) {
                b = b.privilege(id, "admin");
            }
            for _ in 0..rng.gen_range(0..4) {
                let t = types[rng.gen_range(0..types.len())];
                let a = Action::ALL[rng.gen_range(0..4)];
                let l = [Level::None, Level::Owned, Level::All][rng.gen_range(0..3)];
                b = b.grant(id, t, a, l);
            }
        }
        // A type the rows name but the object types do not list.
        let org = b.grant(1, "ghost", Action::View, Level::All).build();
        let rows = role_level_rows(&org, types.len(), |t| types.iter().position(|x| *x == t));
        for (i, r) in org.snapshot.roles.iter().enumerate() {
            let set = role_permissions(&org, r.id);
            for (ti, t) in types.iter().enumerate() {
                for a in Action::ALL {
                    assert_eq!(
                        rows[i * types.len() * 4 + ti * 4 + a.index()],
                        set.level(t, *a),
                        "seed {seed}: role {} {t} {a:?}",
                        r.id
                    );
                }
            }
        }
    }
}

thread_local! {
    static CANCEL_AFTER: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// The test's interrupt hook: panics (as CHECK_FOR_INTERRUPTS raises an ERROR) once
/// this thread's countdown ends; other threads' tests are not affected.
fn cancel_when_due() {
    CANCEL_AFTER.with(|c| match c.get() {
        Some(0) => panic!("canceling statement due to statement timeout"),
        Some(k) => c.set(Some(k - 1)),
        None => {}
    });
}

/// Long loops of the rebuild check for interrupts: a cancel stops a compile (and
/// the chain walks) part way.
#[test]
fn a_rebuild_checks_for_interrupts() {
    use super::engine::CompiledOrg;
    use super::interrupts::set_interrupt_check;
    set_interrupt_check(cancel_when_due);
    for based_on in [true, false] {
        let org = chain_org(20_000, based_on);
        CANCEL_AFTER.with(|c| c.set(Some(3)));
        let stopped = std::panic::catch_unwind(|| CompiledOrg::compile(&org));
        CANCEL_AFTER.with(|c| c.set(None));
        assert!(
            stopped.is_err(),
            "based_on {based_on}: the compile was cancelled"
        );
        assert_eq!(CompiledOrg::compile(&org).role_count(), 20_000);
    }
    let org = chain_org(20_000, true);
    CANCEL_AFTER.with(|c| c.set(Some(3)));
    let stopped = std::panic::catch_unwind(|| org.based_on_chain(20_000));
    CANCEL_AFTER.with(|c| c.set(None));
    assert!(stopped.is_err(), "the chain walk was cancelled");
}

/// `role_privilege_matrix`: own rows are not inherited; what comes through
/// `based_on` (any depth) is; an admin role (flag or privilege, own or inherited)
/// gives every system privilege, marked inherited unless it is its own row.
#[test]
fn the_privilege_matrix_marks_what_is_inherited() {
    use super::privileges::SYSTEM_PRIVILEGES;
    let org = Builder::default()
        .types(&["deals"])
        .role(1, "Admin", None, true)
        .role(2, "Base", None, false)
        .role(3, "Middle", Some(2), false)
        .role(4, "Leaf", Some(3), false)
        .role(5, "Privileged admin", None, false)
        .role(6, "Below admin", Some(5), false)
        .role(7, "Empty", None, false)
        .privilege(2, "reports")
        .privilege(2, "app.crm")
        .privilege(3, "export")
        .privilege(3, "reports")
        .privilege(5, "admin")
        .privilege(5, "app.x")
        .build();
    let rows = role_privilege_matrix(&org);
    let of = |role: i64| -> Vec<(String, bool)> {
        rows.iter()
            .filter(|r| r.role_id == role)
            .map(|r| (r.privilege.clone(), r.inherited))
            .collect()
    };
    let own = |names: &[(&str, bool)]| -> Vec<(String, bool)> {
        names.iter().map(|(n, i)| (n.to_string(), *i)).collect()
    };
    assert_eq!(of(2), own(&[("app.crm", false), ("reports", false)]));
    assert_eq!(
        of(3),
        own(&[("app.crm", true), ("export", false), ("reports", false)])
    );
    assert_eq!(
        of(4),
        own(&[("app.crm", true), ("export", true), ("reports", true)])
    );
    assert_eq!(of(7), vec![]);
    let mut every: Vec<&str> = SYSTEM_PRIVILEGES.to_vec();
    every.sort();
    let admin_rows: Vec<(String, bool)> = every.iter().map(|p| (p.to_string(), true)).collect();
    assert_eq!(of(1), admin_rows);
    let mut five: Vec<(String, bool)> = every
        .iter()
        .map(|p| (p.to_string(), *p != "admin"))
        .chain([("app.x".to_string(), false)])
        .collect();
    five.sort();
    assert_eq!(of(5), five);
    assert!(of(6).iter().all(|(_, inherited)| *inherited));
    assert_eq!(of(6).len(), SYSTEM_PRIVILEGES.len() + 1);
    assert!(rows.iter().all(|r| r.company_id == 1));
    // The same privileges as a role's effective set, role by role.
    for role in 1..=7 {
        let set = role_permissions(&org, role);
        let mut expected: Vec<String> = set.privileges.iter().cloned().collect();
        if set.admin {
            expected.extend(SYSTEM_PRIVILEGES.iter().map(|p| p.to_string()));
        }
        expected.sort();
        expected.dedup();
        let got: Vec<String> = of(role).into_iter().map(|(p, _)| p).collect();
        assert_eq!(got, expected, "role {role}");
    }
}

/// A 20,000-role `based_on` chain with one privilege at the top: linear, and
/// every role below inherits it.
#[test]
fn the_privilege_matrix_of_a_long_chain_is_linear() {
    let n = 20_000;
    let mut org = chain_org(n, true).snapshot;
    org.role_privileges.push(RolePrivilegeRow {
        role_id: 1,
        privilege: "app.top".into(),
    });
    let org = Org::new(org);
    let started = std::time::Instant::now();
    let rows = role_privilege_matrix(&org);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(rows.len(), n as usize);
    assert!(rows
        .iter()
        .all(|r| r.privilege == "app.top" && r.inherited == (r.role_id != 1)));
}

//! The effect check against a brute-force reference: on random organizations and
//! random changes, `first_escalation` finds an escalation exactly when some user
//! gains a decision (`decide`, over every owner and a record with no known owner in
//! every company) or a privilege that the actor did not hold.

use super::effect::{first_escalation, Signatures, State};
use super::engine::tests::random_org;
use super::engine::CompiledOrg;
use super::org::*;
use super::perms::user_permissions;
use super::types::*;
use rand::{Rng, SeedableRng};

/// A random change to `org`, in the shape of what a delegated administrator writes.
fn mutate(org: &Org, rng: &mut rand::rngs::StdRng) -> (Org, &'static str) {
    let mut s = org.snapshot.clone();
    let roles: Vec<(i64, i64)> = s.roles.iter().map(|r| (r.id, r.company_id)).collect();
    let users: Vec<(i64, i64)> = s.users.iter().map(|u| (u.id, u.company_id)).collect();
    let pick_role = |rng: &mut rand::rngs::StdRng, company: i64| {
        let same: Vec<i64> = roles
            .iter()
            .filter(|r| r.1 == company)
            .map(|r| r.0)
            .collect();
        same[rng.gen_range(0..same.len())]
    };
    let what = match rng.gen_range(0..7) {
        0 => {
            let (u, c) = users[rng.gen_range(0..users.len())];
            let role = pick_role(rng, c);
            s.user_roles.push(UserRoleRow {
                user_id: u,
                role_id: role,
            });
            "add a membership"
        }
        1 => {
            if !s.user_roles.is_empty() {
                let i = rng.gen_range(0..s.user_roles.len());
                s.user_roles.remove(i);
            }
            "remove a membership"
        }
        2 => {
            let i = rng.gen_range(0..s.roles.len());
            let id = s.roles[i].id;
            let c = s.roles[i].company_id;
            // Acyclic: only under a role with a smaller id, or to the top.
            let lower: Vec<i64> = roles
                .iter()
                .filter(|r| r.1 == c && r.0 < id)
                .map(|r| r.0)
                .collect();
            s.roles[i].reports_to = (!lower.is_empty() && rng.gen_bool(0.8))
                .then(|| lower[rng.gen_range(0..lower.len())]);
            "move a role"
        }
        3 => {
            let (_, c) = users[rng.gen_range(0..users.len())];
            let (src, dst) = (pick_role(rng, c), pick_role(rng, c));
            s.sharing_rules.push(SharingRuleRow {
                id: 90 + rng.gen_range(0..9),
                company_id: c,
                object_type: rng.gen_bool(0.5).then(|| "deals".to_string()),
                source_role: src,
                source_scope: RuleScope::RoleAndSubordinates,
                target_role: dst,
                target_scope: RuleScope::Role,
                access: RuleAccess::ReadWrite,
            });
            "add a rule"
        }
        4 => {
            let i = rng.gen_range(0..s.role_permissions.len());
            s.role_permissions[i].level =
                [Level::None, Level::Owned, Level::All][rng.gen_range(0..3)];
            "change a level"
        }
        5 => {
            let c = roles[rng.gen_range(0..roles.len())].1;
            let role = pick_role(rng, c);
            s.users.push(UserRow {
                id: 500,
                company_id: c,
                name: None,
                status: Status::Active,
                is_superuser: false,
                is_super_company_member: false,
            });
            s.user_roles.push(UserRoleRow {
                user_id: 500,
                role_id: role,
            });
            "add a user"
        }
        _ => {
            let i = rng.gen_range(0..s.roles.len());
            s.role_privileges.push(RolePrivilegeRow {
                role_id: s.roles[i].id,
                privilege: ["manage_users", "app.crm", "reports"][rng.gen_range(0..3)].into(),
            });
            "add a privilege"
        }
    };
    (Org::new(s), what)
}

/// Does anyone gain something the actor did not hold? Every user, type, action and
/// owner (and an unknown owner in each company), decided one by one.
fn reference(before: (&Org, &CompiledOrg), after: (&Org, &CompiledOrg), actor: i64) -> bool {
    let types = ["deals", "notes"];
    let owners: Vec<(i64, i64)> = before
        .0
        .snapshot
        .users
        .iter()
        .map(|u| (u.id, u.company_id))
        .chain([(-1, 1), (-2, 2)])
        .collect();
    let actor_perms = user_permissions(before.0, actor);
    for u in &after.0.snapshot.users {
        let pb = user_permissions(before.0, u.id);
        let pa = user_permissions(after.0, u.id);
        if pa.superuser && !pb.superuser {
            return true;
        }
        if pa.admin && !pb.admin && !pb.superuser && !actor_perms.admin {
            return true;
        }
        if pa
            .privileges
            .iter()
            .any(|p| !pb.has_privilege(p) && !actor_perms.has_privilege(p))
        {
            return true;
        }
        for t in types {
            for a in Action::ALL {
                for &(o, c) in &owners {
                    if o == u.id {
                        continue;
                    }
                    let d = |m: &CompiledOrg, v: i64| {
                        m.decide(t, *a, Some(o), Some(c), v, None).allowed
                    };
                    if d(after.1, u.id) && !d(before.1, u.id) && !d(before.1, actor) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

#[test]
fn the_effect_check_agrees_with_the_reference_on_random_changes() {
    let (mut judged, mut refused) = (0, 0);
    for seed in 0..400u64 {
        let before = random_org(seed);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
        let (after, what) = mutate(&before, &mut rng);
        let (cb, ca) = (CompiledOrg::compile(&before), CompiledOrg::compile(&after));
        let (sb, sa) = (Signatures::of(&before, &cb), Signatures::of(&after, &ca));
        let actors: Vec<i64> = before
            .snapshot
            .users
            .iter()
            .filter(|u| u.status == Status::Active && !u.is_superuser)
            .map(|u| u.id)
            .collect();
        for actor in actors {
            let found = first_escalation(
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
                &|u| before.user(u).is_none(),
            );
            let expected = reference((&before, &cb), (&after, &ca), actor);
            assert_eq!(
                found.is_some(),
                expected,
                "seed {seed}, actor {actor}, change: {what}; found {found:?}"
            );
            judged += 1;
            refused += usize::from(expected);
        }
    }
    assert!(
        judged > 1000 && refused > 100 && refused < judged,
        "{judged} judged, {refused} refused"
    );
}

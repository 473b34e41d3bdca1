//! Incremental updates: after every change of long random sequences, the patched
//! model equals the model compiled from scratch, field by field (a canonical form)
//! and decision by decision over every user, owner, type and action.

use super::engine::tests::random_org;
use super::engine::{CompiledOrg, OwnerBound, UserIndex};
use super::incremental::{canon, changes_between, Change, LogEntry, NotPatchable};
use super::org::*;
use super::types::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The org `org` says, read afresh: what a rebuild would load.
fn fresh(org: &Org) -> Org {
    Org::new(org.snapshot.clone())
}

/// The patched org's indexes are those of the same rows indexed afresh.
fn assert_same_org(patched: &Org, fresh: &Org, context: &str) {
    let mut ids: Vec<i64> = fresh.snapshot.users.iter().map(|u| u.id).collect();
    ids.sort_unstable();
    let mut patched_ids: Vec<i64> = patched.snapshot.users.iter().map(|u| u.id).collect();
    patched_ids.sort_unstable();
    assert_eq!(patched_ids, ids, "{context}: users");
    for id in ids.iter().chain(&[100_000, -3]) {
        assert_eq!(patched.user(*id), fresh.user(*id), "{context}: user {id}");
        assert_eq!(
            patched.roles_of(*id),
            fresh.roles_of(*id),
            "{context}: roles of {id}"
        );
    }
    for r in &fresh.snapshot.roles {
        let sorted = |org: &Org| {
            let mut p: Vec<(String, Action, Level)> = org
                .own_permissions(r.id)
                .map(|p| (p.object_type.clone(), p.action, p.level))
                .collect();
            p.sort();
            let mut q: Vec<String> = org.own_privileges(r.id).map(str::to_string).collect();
            q.sort();
            (p, q)
        };
        assert_eq!(sorted(patched), sorted(fresh), "{context}: role {}", r.id);
    }
}

/// Every decision the two models make, compared.
fn assert_same_decisions(a: &CompiledOrg, b: &CompiledOrg, org: &Org, context: &str) {
    let users: Vec<i64> = org.snapshot.users.iter().map(|u| u.id).collect();
    let owners: Vec<Option<i64>> = users
        .iter()
        .map(|u| Some(*u))
        .chain([None, Some(99_999)])
        .collect();
    for &viewer in users.iter().chain(&[99_999]) {
        assert_eq!(a.reach_bound(viewer), b.reach_bound(viewer), "{context}");
        assert_eq!(
            a.share_anchors(viewer),
            b.share_anchors(viewer),
            "{context}"
        );
        for t in ["deals", "notes", "missing"] {
            for &action in Action::ALL {
                assert_eq!(
                    a.owner_bound(t, action, viewer),
                    b.owner_bound(t, action, viewer),
                    "{context}: owner_bound {viewer} {t} {action}"
                );
                assert_eq!(
                    a.reach_for(t, action, viewer),
                    b.reach_for(t, action, viewer),
                    "{context}: reach_for {viewer} {t} {action}"
                );
                for owner in &owners {
                    for company in [Some(1), Some(2), None] {
                        for assignee in [None, owners[0]] {
                            assert_eq!(
                                a.decide(t, action, *owner, company, viewer, assignee),
                                b.decide(t, action, *owner, company, viewer, assignee),
                                "{context}: {viewer} {action} {t} of {owner:?} in {company:?}"
                            );
                        }
                    }
                }
            }
        }
        for owner in &users {
            assert_eq!(a.can_see(*owner, viewer), b.can_see(*owner, viewer));
        }
    }
    for company in [1, 2, 3] {
        assert_eq!(
            a.company_user_count(company),
            b.company_user_count(company),
            "{context}"
        );
    }
    assert_eq!(a.access_signatures(), b.access_signatures(), "{context}");
}

/// `c` written into an image and read back from it (its arrays slices of it).
fn through_image(c: &CompiledOrg) -> CompiledOrg {
    let words = std::rc::Rc::new(crate::model::image::encode(c));
    let (base, len) = (words.as_ptr() as *const u8, words.len() * 8);
    unsafe { crate::model::image::decode(base, len, words) }.expect("the image reads back")
}

/// The org's configuration rows without its users and memberships: what a
/// backend that patches a shared model loads (docs/design.md, "One model per
/// database").
fn config_of(org: &Org) -> Org {
    let mut snapshot = org.snapshot.clone();
    snapshot.users.clear();
    snapshot.user_roles.clear();
    Org::new(snapshot)
}

fn role_ids(org: &Org) -> Vec<i64> {
    org.snapshot.roles.iter().map(|r| r.id).collect()
}

fn pick<T: Clone>(rng: &mut StdRng, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[rng.gen_range(0..items.len())].clone())
}

/// One random change that fits `org` (as the change log would record it: an
/// update is the old row removed, then the new one), or None if none was drawn.
fn random_change(rng: &mut StdRng, org: &Org, next_id: &mut i64) -> Vec<Change> {
    let users: Vec<UserRow> = org.snapshot.users.clone();
    let roles = role_ids(org);
    let company_of_role = |r: i64| org.role(r).map_or(1, |r| r.company_id);
    let types = ["deals", "notes"];
    match rng.gen_range(0..14) {
        0 | 1 => {
            // A new user (sometimes an id far away: the dense index turns sparse).
            *next_id += 1;
            let id = match rng.gen_range(0..10) {
                0 => 1_000_000_000 + *next_id,
                1 => -*next_id,
                _ => *next_id,
            };
            let role = pick(rng, &roles);
            let company = role.map_or(1, company_of_role);
            let mut out = vec![Change::UserUpserted(UserRow {
                id,
                company_id: company,
                name: None,
                status: if rng.gen_bool(0.9) {
                    Status::Active
                } else {
                    Status::Pending
                },
                is_superuser: rng.gen_bool(0.05),
                is_super_company_member: rng.gen_bool(0.1),
            })];
            if let Some(role) = role.filter(|_| rng.gen_bool(0.8)) {
                let membership = Change::MembershipAdded(UserRoleRow {
                    user_id: id,
                    role_id: role,
                });
                // A trigger on the users' rows (a default role) logs the membership
                // before the statement that inserted the user logs its row.
                if rng.gen_bool(0.3) {
                    out.insert(0, membership);
                } else {
                    out.push(membership);
                }
            }
            out
        }
        2 => {
            // A user changed: status, flags or company.
            let Some(u) = pick(rng, &users) else {
                return vec![];
            };
            let mut new = u.clone();
            match rng.gen_range(0..4) {
                0 => new.status = Status::ALL[rng.gen_range(0..3)],
                1 => new.is_superuser = !new.is_superuser,
                2 => new.is_super_company_member = !new.is_super_company_member,
                _ => new.company_id = 3 - new.company_id.clamp(1, 2),
            }
            vec![Change::UserRemoved(u.id), Change::UserUpserted(new)]
        }
        3 => {
            // A user deleted: the cascade deletes the memberships, before or after.
            let Some(u) = pick(rng, &users) else {
                return vec![];
            };
            let memberships: Vec<Change> = org
                .roles_of(u.id)
                .iter()
                .map(|r| {
                    Change::MembershipRemoved(UserRoleRow {
                        user_id: u.id,
                        role_id: *r,
                    })
                })
                .collect();
            let mut out = vec![Change::UserRemoved(u.id)];
            if rng.gen_bool(0.5) {
                out.splice(0..0, memberships);
            } else {
                out.extend(memberships);
            }
            out
        }
        4 | 5 => {
            let (Some(u), Some(r)) = (pick(rng, &users), pick(rng, &roles)) else {
                return vec![];
            };
            let m = UserRoleRow {
                user_id: u.id,
                role_id: r,
            };
            if org.roles_of(u.id).contains(&r) {
                vec![Change::MembershipRemoved(m)]
            } else {
                vec![Change::MembershipAdded(m)]
            }
        }
        6 | 7 => {
            let Some(r) = pick(rng, &roles) else {
                return vec![];
            };
            let t = types[rng.gen_range(0..2)];
            let action = Action::ALL[rng.gen_range(0..4)];
            let exists = org
                .own_permissions(r)
                .any(|p| p.object_type == t && p.action == action);
            if exists && rng.gen_bool(0.3) {
                vec![Change::PermissionRemoved {
                    role_id: r,
                    object_type: t.into(),
                    action,
                }]
            } else {
                vec![Change::PermissionSet(RolePermissionRow {
                    role_id: r,
                    object_type: t.into(),
                    action,
                    level: Level::ALL[rng.gen_range(0..3)],
                })]
            }
        }
        8 => {
            let Some(r) = pick(rng, &roles) else {
                return vec![];
            };
            let p = ["admin", "manage_users"][rng.gen_range(0..2)];
            let row = RolePrivilegeRow {
                role_id: r,
                privilege: p.into(),
            };
            if org.own_privileges(r).any(|x| x == p) {
                vec![Change::PrivilegeRemoved(row)]
            } else {
                vec![Change::PrivilegeAdded(row)]
            }
        }
        9 | 10 => {
            let rules = org.snapshot.sharing_rules.clone();
            if let Some(rule) = pick(rng, &rules).filter(|_| rng.gen_bool(0.4)) {
                return vec![Change::RuleRemoved(rule.id)];
            }
            let (Some(src), Some(dst)) = (pick(rng, &roles), pick(rng, &roles)) else {
                return vec![];
            };
            let existing = pick(rng, &rules).filter(|_| rng.gen_bool(0.3));
            let id = existing.as_ref().map_or_else(
                || {
                    *next_id += 1;
                    *next_id
                },
                |r| r.id,
            );
            let scope = |b: bool| {
                if b {
                    RuleScope::Role
                } else {
                    RuleScope::RoleAndSubordinates
                }
            };
            let row = SharingRuleRow {
                id,
                company_id: company_of_role(src),
                object_type: rng.gen_bool(0.5).then(|| types[rng.gen_range(0..2)].into()),
                source_role: src,
                source_scope: scope(rng.gen_bool(0.5)),
                target_role: dst,
                target_scope: scope(rng.gen_bool(0.5)),
                access: if rng.gen_bool(0.5) {
                    RuleAccess::Read
                } else {
                    RuleAccess::ReadWrite
                },
            };
            match existing {
                Some(_) => vec![Change::RuleRemoved(id), Change::RuleUpserted(row)],
                None => vec![Change::RuleUpserted(row)],
            }
        }
        11 => {
            let agreements = org.snapshot.agreements.clone();
            if let Some(a) = pick(rng, &agreements) {
                // Removed, with its permissions (the foreign key cascades).
                let mut out: Vec<Change> = org
                    .snapshot
                    .agreement_permissions
                    .iter()
                    .filter(|p| p.agreement_id == a.id)
                    .cloned()
                    .map(Change::AgreementPermissionRemoved)
                    .collect();
                out.push(Change::AgreementRemoved(a.id));
                return out;
            }
            *next_id += 1;
            let (grantor, grantee) = if rng.gen_bool(0.5) { (1, 2) } else { (2, 1) };
            vec![Change::AgreementUpserted(AgreementRow {
                id: *next_id,
                grantor_company: grantor,
                grantee_company: grantee,
            })]
        }
        12 => {
            let agreements = org.snapshot.agreements.clone();
            let Some(a) = pick(rng, &agreements) else {
                return vec![];
            };
            let row = AgreementPermissionRow {
                agreement_id: a.id,
                object_type: types[rng.gen_range(0..2)].into(),
                action: Action::ALL[rng.gen_range(0..4)],
            };
            if org.snapshot.agreement_permissions.contains(&row) {
                vec![Change::AgreementPermissionRemoved(row)]
            } else {
                vec![Change::AgreementPermissionAdded(row)]
            }
        }
        _ => vec![],
    }
}

/// A random org with company owners (admin by ownership).
fn org_with_owners(seed: u64) -> Org {
    let mut s = random_org(seed).snapshot;
    for company in [1, 2] {
        let owner = s
            .users
            .iter()
            .find(|u| u.company_id == company)
            .map(|u| u.id);
        s.companies.push(CompanyRow {
            id: company,
            owner_user: owner,
        });
    }
    Org::new(s)
}

#[test]
fn patched_model_equals_a_fresh_compile_after_every_random_change() {
    let mut applied = 0;
    for seed in 0..60 {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let mut org = org_with_owners(seed);
        let mut compiled = CompiledOrg::compile(&org);
        // The same changes patched without the people's rows, as a backend that
        // read its model from a shared image does.
        let mut people_free = CompiledOrg::compile(&org);
        let mut config = config_of(&org);
        let mut next_id = 10_000;
        for step in 0..120 {
            let batch = random_change(&mut rng, &org, &mut next_id);
            if batch.is_empty() {
                continue;
            }
            for c in &batch {
                org.apply(c)
                    .unwrap_or_else(|e| panic!("seed {seed} step {step}: {c:?}: {e:?}"));
            }
            compiled
                .patch(&org, &batch)
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e:?}"));
            config
                .apply_to_config(&batch)
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e:?}"));
            people_free
                .patch_people_free(Some(&config), &batch)
                .unwrap_or_else(|e| panic!("seed {seed} step {step}, people-free: {e:?}"));
            applied += batch.len();
            let context = format!("seed {seed} step {step} {batch:?}");
            let again = fresh(&org);
            assert_same_org(&org, &again, &context);
            let scratch = CompiledOrg::compile(&again);
            assert_eq!(canon::of(&compiled), canon::of(&scratch), "{context}");
            assert_eq!(
                canon::of(&people_free),
                canon::of(&scratch),
                "people-free: {context}"
            );
            if step % 10 == 0 {
                assert_same_decisions(&compiled, &scratch, &org, &context);
                assert_same_decisions(&people_free, &scratch, &org, &context);
            }
            if step % 7 == 3 {
                // Through an image, as another backend reads it: equal, and the
                // next patches copy what they change out of the image.
                people_free = through_image(&people_free);
                assert_eq!(
                    canon::of(&people_free),
                    canon::of(&scratch),
                    "image: {context}"
                );
            }
        }
        let scratch = CompiledOrg::compile(&fresh(&org));
        assert_same_decisions(&compiled, &scratch, &org, &format!("seed {seed} end"));
    }
    assert!(applied > 5000, "exercised ({applied} changes)");
}

/// Each kind of change alone, on one org, patched and compared.
#[test]
fn each_change_kind_patches() {
    let base = org_with_owners(7);
    let user = base.snapshot.users[0].clone();
    let role = base.snapshot.roles[0].id;
    let other_role = base.snapshot.roles[1].id;
    let held = base.roles_of(user.id).to_vec();
    let new_member = if held.contains(&other_role) {
        role
    } else {
        other_role
    };
    let kinds: Vec<Vec<Change>> = vec![
        vec![Change::UserUpserted(UserRow {
            id: 777,
            ..user.clone()
        })],
        vec![
            Change::UserUpserted(UserRow {
                id: 778,
                ..user.clone()
            }),
            Change::MembershipAdded(UserRoleRow {
                user_id: 778,
                role_id: role,
            }),
        ],
        vec![
            Change::UserRemoved(user.id),
            Change::UserUpserted(UserRow {
                status: Status::Disabled,
                ..user.clone()
            }),
        ],
        held.iter()
            .map(|r| {
                Change::MembershipRemoved(UserRoleRow {
                    user_id: user.id,
                    role_id: *r,
                })
            })
            .chain([Change::UserRemoved(user.id)])
            .collect(),
        vec![Change::MembershipAdded(UserRoleRow {
            user_id: user.id,
            role_id: new_member,
        })],
        vec![Change::PermissionSet(RolePermissionRow {
            role_id: role,
            object_type: "deals".into(),
            action: Action::View,
            level: Level::All,
        })],
        vec![Change::PermissionRemoved {
            role_id: role,
            object_type: "notes".into(),
            action: Action::Edit,
        }],
        vec![Change::PrivilegeAdded(RolePrivilegeRow {
            role_id: role,
            privilege: "admin".into(),
        })],
        vec![Change::RuleUpserted(SharingRuleRow {
            id: 50,
            company_id: 1,
            object_type: None,
            source_role: role,
            source_scope: RuleScope::RoleAndSubordinates,
            target_role: other_role,
            target_scope: RuleScope::Role,
            access: RuleAccess::ReadWrite,
        })],
        vec![
            Change::AgreementUpserted(AgreementRow {
                id: 9,
                grantor_company: 1,
                grantee_company: 2,
            }),
            Change::AgreementPermissionAdded(AgreementPermissionRow {
                agreement_id: 9,
                object_type: "deals".into(),
                action: Action::View,
            }),
        ],
    ];
    for batch in kinds {
        let mut org = base.clone();
        let mut compiled = CompiledOrg::compile(&org);
        for c in &batch {
            org.apply(c).unwrap_or_else(|e| panic!("{c:?}: {e:?}"));
        }
        compiled.patch(&org, &batch).unwrap();
        let scratch = CompiledOrg::compile(&fresh(&org));
        let context = format!("{batch:?}");
        assert_eq!(canon::of(&compiled), canon::of(&scratch), "{context}");
        assert_same_decisions(&compiled, &scratch, &org, &context);
    }
}

/// What does not fit the rows held is refused, and leaves the org as it was.
#[test]
fn changes_that_do_not_fit_are_refused() {
    let org = org_with_owners(3);
    let user = org.snapshot.users[0].id;
    let held = org.roles_of(user)[0];
    let refused = [
        Change::Structural,
        Change::UserRemoved(424_242),
        Change::MembershipAdded(UserRoleRow {
            user_id: user,
            role_id: held,
        }),
        Change::MembershipRemoved(UserRoleRow {
            user_id: user,
            role_id: 424_242,
        }),
        Change::RuleRemoved(424_242),
        Change::AgreementRemoved(424_242),
        Change::PermissionRemoved {
            role_id: 424_242,
            object_type: "deals".into(),
            action: Action::View,
        },
    ];
    for c in refused {
        let mut patched = org.clone();
        assert!(
            matches!(patched.apply(&c), Err(NotPatchable(_))),
            "{c:?} refused"
        );
        assert_same_org(&patched, &org, &format!("{c:?}"));
    }
    let mut compiled = CompiledOrg::compile(&org);
    assert!(compiled.patch(&org, &[Change::Structural]).is_err());
}

/// Many patches of one user's roles: the garbage of the membership table is
/// compacted, and nothing is lost.
#[test]
fn membership_table_compacts() {
    let mut org = org_with_owners(11);
    let mut compiled = CompiledOrg::compile(&org);
    let user = org.snapshot.users[0].id;
    let roles = role_ids(&org);
    for round in 0..3000 {
        let r = roles[round % roles.len()];
        let m = UserRoleRow {
            user_id: user,
            role_id: r,
        };
        let c = if org.roles_of(user).contains(&r) {
            Change::MembershipRemoved(m)
        } else {
            Change::MembershipAdded(m)
        };
        org.apply(&c).unwrap();
        compiled.patch(&org, &[c]).unwrap();
    }
    assert!(org.user_role_ids.len() < 4096, "compacted");
    let scratch = CompiledOrg::compile(&fresh(&org));
    assert_eq!(canon::of(&compiled), canon::of(&scratch));
    assert!(matches!(
        compiled.owner_bound("deals", Action::View, user),
        OwnerBound::Owners(_) | OwnerBound::Unbounded
    ));
}

fn entry(generation: i64, table: &str, op: char, row: Option<&str>) -> LogEntry {
    LogEntry {
        generation,
        table: table.into(),
        op,
        row: row.map(str::to_string),
    }
}

/// The log as the triggers write it, read back into changes; incomplete logs refused.
#[test]
fn the_change_log_reads_back_or_is_refused() {
    let user = r#"{"id": 5, "company_id": 1, "name": "Ada", "status": "active", "is_superuser": false,
                   "is_super_company_member": false, "db_role": null, "department": null}"#;
    let member = r#"{"id": 9, "user_id": 5, "role_id": 2, "assigned_at": "2026-01-01"}"#;
    let log = vec![
        entry(10, "users", 'B', None),
        entry(11, "users", 'B', None),
        entry(11, "users", 'I', Some(user)),
        entry(11, "users", 'E', None),
        entry(12, "user_roles", 'B', None),
        entry(12, "user_roles", 'D', Some(member)),
        entry(12, "user_roles", 'I', Some(member)),
        entry(12, "user_roles", 'E', None),
    ];
    let changes = changes_between(10, 12, &log).unwrap();
    assert_eq!(changes.len(), 3);
    assert!(matches!(&changes[0], Change::UserUpserted(u) if u.id == 5 && u.name.is_none()));
    assert!(matches!(&changes[1], Change::MembershipRemoved(m) if m.role_id == 2));
    // Pruned (no entry of the model's generation), not yet there, structural, unended.
    assert!(changes_between(9, 12, &log).is_err());
    assert!(changes_between(10, 13, &log).is_err());
    let mut structural = log.clone();
    structural.insert(2, entry(11, "roles", 'X', None));
    assert!(changes_between(10, 12, &structural).is_err());
    let mut unended = log.clone();
    unended.remove(3);
    assert!(changes_between(10, 12, &unended).is_err());
    // A table the model does not patch, and a row that does not parse.
    assert!(changes_between(
        10,
        11,
        &[
            entry(10, "x", 'B', None),
            entry(11, "roles", 'B', None),
            entry(11, "roles", 'I', Some("{}")),
            entry(11, "roles", 'E', None)
        ]
    )
    .is_err());
    assert!(changes_between(
        10,
        11,
        &[
            entry(10, "x", 'B', None),
            entry(11, "users", 'B', None),
            entry(11, "users", 'I', Some("{")),
            entry(11, "users", 'E', None)
        ]
    )
    .is_err());
}

/// Patches grow the big vectors by a sixteenth, not by doubling: a patched model's
/// memory stays near a compiled one's.
#[test]
fn patched_memory_stays_near_a_compile() {
    let mut s = OrgSnapshot::default();
    s.object_types.push(ObjectTypeRow {
        name: "deals".into(),
        org_wide_default: OrgWideDefault::Private,
        grant_via_hierarchy: true,
    });
    s.roles.push(RoleRow {
        id: 1,
        company_id: 1,
        name: "r".into(),
        reports_to: None,
        based_on: None,
        is_admin: false,
        is_default: false,
    });
    for id in 1..=20_000 {
        s.users.push(UserRow {
            id,
            company_id: 1,
            name: None,
            status: Status::Active,
            is_superuser: false,
            is_super_company_member: false,
        });
        s.user_roles.push(UserRoleRow {
            user_id: id,
            role_id: 1,
        });
    }
    let mut org = Org::new(s);
    let mut compiled = CompiledOrg::compile(&org);
    let before = compiled.heap_bytes() + org.heap_bytes();
    for id in 20_001..=20_010 {
        let batch = [
            Change::UserUpserted(UserRow {
                id,
                company_id: 1,
                name: None,
                status: Status::Active,
                is_superuser: false,
                is_super_company_member: false,
            }),
            Change::MembershipAdded(UserRoleRow {
                user_id: id,
                role_id: 1,
            }),
        ];
        for c in &batch {
            org.apply(c).unwrap();
        }
        compiled.patch(&org, &batch).unwrap();
    }
    let after = compiled.heap_bytes() + org.heap_bytes();
    assert!(
        after < before + before / 10,
        "{before} bytes compiled, {after} after ten patches"
    );
}

#[test]
fn an_image_reads_back_decision_for_decision_and_holds_no_copy() {
    for seed in 0..20 {
        let org = org_with_owners(seed);
        let compiled = CompiledOrg::compile(&org);
        let read = through_image(&compiled);
        let context = format!("seed {seed}");
        assert_eq!(canon::of(&read), canon::of(&compiled), "{context}");
        assert_same_decisions(&read, &compiled, &org, &context);
        // The user-sized arrays are the image's; only the small maps are this
        // model's own.
        assert!(
            read.users.is_mapped() && read.members.is_mapped(),
            "{context}"
        );
        assert!(
            read.heap_bytes() < compiled.heap_bytes(),
            "{context}: {} against {}",
            read.heap_bytes(),
            compiled.heap_bytes()
        );
    }
}

/// An image in a buffer of its own, 8-byte aligned.
struct Buffer(std::cell::UnsafeCell<Vec<u64>>);

impl Buffer {
    fn of(c: &CompiledOrg) -> std::rc::Rc<Buffer> {
        std::rc::Rc::new(Buffer(crate::model::image::encode(c).into()))
    }
    fn base(&self) -> *mut u8 {
        unsafe { (*self.0.get()).as_mut_ptr() as *mut u8 }
    }
    fn len(&self) -> usize {
        unsafe { (*self.0.get()).len() * 8 }
    }
}

/// Patching a spare in place (docs/design.md, "Patching a spare in place"): the
/// image of an older generation, read as windows, patched with the changes of
/// one or more generations since, finished where it lies, then read as the other
/// backends read it — equal to a fresh compile after every change; and when a
/// change does not fit (a section outgrew its room, the dense index turned sparse
/// or began lower), the patched model is written whole into a new image instead.
#[test]
fn a_spare_patched_in_place_equals_a_fresh_compile_after_every_random_change() {
    use crate::model::image::{decode, decode_in_place, finish_in_place};
    let (mut in_place, mut whole) = (0, 0);
    for seed in 0..40 {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x51a7e);
        let mut org = org_with_owners(seed);
        let mut config = config_of(&org);
        let mut image = Buffer::of(&CompiledOrg::compile(&org));
        let mut next_id = 10_000;
        let mut pending: Vec<Change> = vec![];
        for step in 0..150 {
            let batch = random_change(&mut rng, &org, &mut next_id);
            for c in &batch {
                org.apply(c).unwrap();
            }
            config.apply_to_config(&batch).unwrap();
            pending.extend(batch);
            // Sometimes two generations at once, as a spare two changes behind.
            if pending.is_empty() || rng.gen_range(0..3) == 0 {
                continue;
            }
            let context = format!("seed {seed} step {step} {pending:?}");
            let keep: crate::model::slab::Keep = image.clone();
            let mut model = unsafe { decode_in_place(image.base(), image.len(), keep) }
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            model
                .patch_people_free(Some(&config), &pending)
                .unwrap_or_else(|e| panic!("{context}: {e:?}"));
            pending.clear();
            match unsafe { finish_in_place(&model, image.base(), image.len()) } {
                Ok(()) => {
                    in_place += 1;
                    drop(model);
                }
                Err(_) => {
                    // Unreadable now; the model, read from it, is written whole.
                    let keep: crate::model::slab::Keep = image.clone();
                    assert!(
                        unsafe { decode(image.base(), image.len(), keep) }.is_err(),
                        "{context}: a spare that did not fit is left unreadable"
                    );
                    whole += 1;
                    image = Buffer::of(&model);
                }
            }
            let keep: crate::model::slab::Keep = image.clone();
            let read = unsafe { decode(image.base(), image.len(), keep) }
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            let scratch = CompiledOrg::compile(&fresh(&org));
            assert_eq!(canon::of(&read), canon::of(&scratch), "{context}");
            if step % 10 == 0 {
                assert_same_decisions(&read, &scratch, &org, &context);
            }
        }
    }
    assert!(
        in_place > 2000 && whole > 10,
        "{in_place} in place, {whole} whole"
    );
}

/// Users added one at a time fill the users' room, then the image is written
/// whole (with new room) and the next ones go in place again.
#[test]
fn a_spare_written_in_place_until_its_room_is_full() {
    use crate::model::image::{decode, decode_in_place, finish_in_place};
    let org = org_with_owners(5);
    let mut image = Buffer::of(&CompiledOrg::compile(&org));
    let (mut in_place, mut whole) = (0, 0);
    let mut ids: Vec<i64> = org.snapshot.users.iter().map(|u| u.id).collect();
    for i in 0..700 {
        let id = 50_000 + i;
        ids.push(id);
        let change = Change::UserUpserted(UserRow {
            id,
            company_id: 1,
            name: None,
            status: Status::Active,
            is_superuser: false,
            is_super_company_member: false,
        });
        let keep: crate::model::slab::Keep = image.clone();
        let mut model = unsafe { decode_in_place(image.base(), image.len(), keep) }.unwrap();
        model.patch_people_free(None, &[change]).unwrap();
        if unsafe { finish_in_place(&model, image.base(), image.len()) }.is_ok() {
            in_place += 1;
        } else {
            whole += 1;
            image = Buffer::of(&model);
        }
        let keep: crate::model::slab::Keep = image.clone();
        let read = unsafe { decode(image.base(), image.len(), keep) }.unwrap();
        assert_eq!(read.user_count(), ids.len());
        assert!(ids.iter().all(|id| read.has_user(*id)), "user {id}");
    }
    assert!(
        whole >= 1 && in_place > 600,
        "{in_place} in place, {whole} whole"
    );
}

#[test]
fn a_sparse_user_index_goes_through_an_image() {
    let mut s = org_with_owners(3).snapshot;
    s.users[0].id = 9_000_000_000;
    for m in s.user_roles.iter_mut().filter(|m| m.user_id == 100) {
        m.user_id = 9_000_000_000;
    }
    let org = Org::new(s);
    let compiled = CompiledOrg::compile(&org);
    assert!(matches!(compiled.user_ix, UserIndex::Sparse(_)));
    let read = through_image(&compiled);
    assert_eq!(canon::of(&read), canon::of(&compiled));
    assert_same_decisions(&read, &compiled, &org, "sparse");
}

#[test]
fn a_damaged_image_is_refused() {
    let compiled = CompiledOrg::compile(&org_with_owners(1));
    let words = crate::model::image::encode(&compiled);
    let read = |mut w: Vec<u64>, len: usize| {
        let w = std::rc::Rc::new(std::mem::take(&mut w));
        unsafe { crate::model::image::decode(w.as_ptr() as *const u8, len, w.clone()) }
    };
    let len = words.len() * 8;
    assert!(read(words.clone(), len).is_ok());
    let mut bad_magic = words.clone();
    bad_magic[0] ^= 1;
    assert!(read(bad_magic, len).unwrap_err().0.contains("version"));
    assert!(read(words.clone(), len - 8)
        .unwrap_err()
        .0
        .contains("length"));
    assert!(read(words.clone(), 16).unwrap_err().0.contains("header"));
    // A section pointing past the end (the users' offset is the 7th word).
    let mut past = words.clone();
    past[6] = len as u64;
    assert!(read(past, len).unwrap_err().0.contains("outside"));
}

/// A change maps logins only when a logged user row (old or new) carries a
/// `db_role`; entries of the base generation and other tables never do, and a row
/// that cannot be read counts as one that does (the directory is read again).
#[test]
fn maps_logins_only_for_user_rows_with_a_login() {
    use super::incremental::maps_logins;
    let e = entry;
    let plain = r#"{"id": 9, "company_id": 1, "db_role": null}"#;
    let login = r#"{"id": 9, "company_id": 1, "db_role": "alice"}"#;
    let base = vec![e(5, "users", 'B', None), e(5, "users", 'I', Some(login))];
    assert!(!maps_logins(5, &base), "the base generation's own rows");
    let mut added = base.clone();
    added.extend([
        e(6, "users", 'B', None),
        e(6, "users", 'I', Some(plain)),
        e(6, "users", 'E', None),
        e(
            7,
            "user_roles",
            'I',
            Some(r#"{"user_id": 9, "role_id": 3, "db_role": "x"}"#),
        ),
    ]);
    assert!(
        !maps_logins(5, &added),
        "a user without a login, a membership"
    );
    for op in ['I', 'D'] {
        let mut mapped = added.clone();
        mapped.push(e(8, "users", op, Some(login)));
        assert!(maps_logins(5, &mapped), "{op} of a user with a login");
    }
    let mut unreadable = added.clone();
    unreadable.push(e(8, "users", 'I', Some("not json")));
    assert!(maps_logins(5, &unreadable));
}

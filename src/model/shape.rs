//! Which rewrite of a table's policy a viewer gets (docs/design.md, "The policies").
//!
//! The planner support (`backend::planner`) asks [`PolicyShape::choose`] for the
//! viewer a statement is planned for and only turns the answer into parse nodes.
//! Every shape is equal to the policy for *every* viewer (the rewrites fall back to
//! the engine's decision when the viewer or the configuration changed since
//! planning); the choice only decides what is fast. The unit tests check each
//! shape's promise against [`CompiledOrg::decide`].

use super::engine::{CompiledOrg, OwnerBound};
use super::types::Action;

/// Above this many owners a constant array is not worth its planning time.
pub const MAX_INLINE_OWNERS: usize = 1_000_000;

/// What the choice reads of a compiled configuration. [`CompiledOrg`] answers
/// directly; the backend's cached model remembers the owner filters it computed.
pub trait ShapeSource {
    /// [`CompiledOrg::all_rows_company`].
    fn all_rows_company(&self, object_type: &str, action: Action, viewer: i64) -> Option<i64>;
    /// [`CompiledOrg::exact_owner_filter`].
    fn exact_owner_filter(
        &self,
        object_type: &str,
        action: Action,
        viewer: i64,
    ) -> Option<(Vec<i64>, i64)>;
    /// [`CompiledOrg::company_user_count`].
    fn company_user_count(&self, company: i64) -> usize;
    /// [`CompiledOrg::owner_bound`].
    fn owner_bound(&self, object_type: &str, action: Action, viewer: i64) -> OwnerBound;
    /// [`CompiledOrg::company_of`].
    fn company_of(&self, user: i64) -> Option<i64>;
    /// [`CompiledOrg::reach_bound`].
    fn reach_bound(&self, viewer: i64) -> OwnerBound;
}

impl ShapeSource for CompiledOrg {
    fn all_rows_company(&self, object_type: &str, action: Action, viewer: i64) -> Option<i64> {
        CompiledOrg::all_rows_company(self, object_type, action, viewer)
    }
    fn exact_owner_filter(
        &self,
        object_type: &str,
        action: Action,
        viewer: i64,
    ) -> Option<(Vec<i64>, i64)> {
        CompiledOrg::exact_owner_filter(self, object_type, action, viewer)
    }
    fn company_user_count(&self, company: i64) -> usize {
        CompiledOrg::company_user_count(self, company)
    }
    fn owner_bound(&self, object_type: &str, action: Action, viewer: i64) -> OwnerBound {
        CompiledOrg::owner_bound(self, object_type, action, viewer)
    }
    fn company_of(&self, user: i64) -> Option<i64> {
        CompiledOrg::company_of(self, user)
    }
    fn reach_bound(&self, viewer: i64) -> OwnerBound {
        CompiledOrg::reach_bound(self, viewer)
    }
}

/// Whether `owners` owners are few enough in `company` to be read through the owner
/// index by any viewer of a plan: under `sharing.owner_index_max_share` of its users.
/// Plans of such viewers are kept across them ([`PlanClass::FewOwners`]).
fn few_owners(org: &impl ShapeSource, company: Option<i64>, owners: usize, share: f64) -> bool {
    let company_users = company.map_or(0, |c| org.company_user_count(c)).max(1) as f64;
    (owners as f64) < share * company_users
}

/// How many times `sharing.owner_index_max_share` the owners may be and still be
/// offered the owner index: the planner then chooses between it and a sequential
/// scan by cost, as it does for the filter written by hand (a director's quarter of
/// the company reads faster through a bitmap of the owner index). Such a plan is
/// made for its viewer only ([`PlanClass::Only`]).
pub const OWNER_INDEX_OFFER_FACTOR: f64 = 10.0;

/// Whether the owner index is offered to the planner for `owners` owners.
fn owner_index_offered(
    org: &impl ShapeSource,
    company: Option<i64>,
    owners: usize,
    share: f64,
) -> bool {
    few_owners(org, company, owners, share * OWNER_INDEX_OFFER_FACTOR)
}

/// What the planned call looks like and what the session asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShapeSettings {
    /// The policy passes an assignee column (not a NULL constant): the inlined
    /// owner filter is exact only for records without an assignee.
    pub has_assignee: bool,
    /// `sharing.owner_index_max_share`.
    pub owner_index_max_share: f64,
}

/// The rewrite of `_policy(type, action, owner, company, viewer, assignee, …)`.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyShape {
    /// Level `all` in `company`: `company = (SELECT _all_rows_company_current(…)) OR
    /// _decide_current(…)` — one comparison per row. (The company is computed again
    /// when the statement runs; it is carried here for the tests.)
    AllRowsCompany { company: i64 },
    /// The viewer's decisions are exactly "company = `company` and owner in
    /// `owners`": that filter inlined as constants behind a once-per-statement guard;
    /// with `owner_index`, `AND _owner_hint(…)` so an index on the owner column can
    /// read the few owners.
    InlineFilter {
        owners: Vec<i64>,
        company: i64,
        owner_index: bool,
    },
    /// Any other viewer (or none): `_can_access_for(…, planned_viewer)`, decided row
    /// by row, with estimates and an owner index condition from the viewer's bound.
    ForViewer,
}

impl PolicyShape {
    /// The shape of `object_type`/`action`'s policy planned for `viewer`.
    pub fn choose(
        org: &impl ShapeSource,
        object_type: &str,
        action: Action,
        viewer: Option<i64>,
        settings: ShapeSettings,
    ) -> PolicyShape {
        let Some(viewer) = viewer else {
            return PolicyShape::ForViewer;
        };
        if let Some(company) = org.all_rows_company(object_type, action, viewer) {
            return PolicyShape::AllRowsCompany { company };
        }
        if settings.has_assignee {
            return PolicyShape::ForViewer;
        }
        let Some((owners, company)) = org.exact_owner_filter(object_type, action, viewer) else {
            return PolicyShape::ForViewer;
        };
        if owners.len() > MAX_INLINE_OWNERS {
            return PolicyShape::ForViewer;
        }
        let owner_index = owner_index_offered(
            org,
            Some(company),
            owners.len(),
            settings.owner_index_max_share,
        );
        PolicyShape::InlineFilter {
            owners,
            company,
            owner_index,
        }
    }
}

/// The rewrite of `can_see(owner, sharing.current_viewer())` in a user's policy:
/// the type-independent reach, with no company to compare.
#[derive(Clone, Debug, PartialEq)]
pub enum ReachShape {
    /// The viewer's reach is these owners: `owner = ANY(owners)` inlined behind a
    /// once-per-statement guard, with the owner index when they are few.
    InlineOwners { owners: Vec<i64>, owner_index: bool },
    /// A superuser, or no viewer: decided row by row.
    PerRow,
}

impl ReachShape {
    /// The shape of `can_see` planned for `viewer`, and its class.
    pub fn choose(
        org: &impl ShapeSource,
        viewer: Option<i64>,
        owner_index_max_share: f64,
    ) -> (ReachShape, PlanClass) {
        let Some(v) = viewer else {
            return (ReachShape::PerRow, PlanClass::Only(None));
        };
        match org.reach_bound(v) {
            OwnerBound::Unbounded => (ReachShape::PerRow, PlanClass::PerRow),
            OwnerBound::Owners(owners) if owners.len() > MAX_INLINE_OWNERS => {
                (ReachShape::PerRow, PlanClass::Only(viewer))
            }
            OwnerBound::Owners(owners) => {
                let owner_index = owner_index_offered(
                    org,
                    org.company_of(v),
                    owners.len(),
                    owner_index_max_share,
                );
                let class =
                    if few_owners(org, org.company_of(v), owners.len(), owner_index_max_share) {
                        PlanClass::FewOwners
                    } else {
                        PlanClass::Only(viewer)
                    };
                (
                    ReachShape::InlineOwners {
                        owners,
                        owner_index,
                    },
                    class,
                )
            }
        }
    }
}

/// What a plan shaped for one viewer assumes of the viewer who runs it. Every
/// shape is right for every viewer; the class says for which viewers it is also
/// *fast*. A backend re-plans when the viewer changes to one of another class, and
/// keeps its plans (prepared statements included) while the class stays — so an
/// application switching between salespeople on every request plans nothing again
/// (docs/design.md, "Plans across viewers").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanClass {
    /// Level `all`: the company is compared with one computed when the statement
    /// runs — the plan of one such viewer is the plan of any other.
    AllRows,
    /// A few owners, read through the owner index; the owners are computed when
    /// the scan starts, the rows few enough to be decided one by one.
    FewOwners,
    /// Decided row by row with no index and the same estimates for any viewer of
    /// this class (a table with an assignee column; records of any owner).
    PerRow,
    /// Planned for this viewer (or for none) only: an inlined filter of many
    /// owners, a sequential or bitmap scan chosen for their number.
    Only(Option<i64>),
}

impl PlanClass {
    /// The class of the plan of `object_type`/`action`'s policy for `viewer`.
    pub fn of(
        org: &impl ShapeSource,
        object_type: &str,
        action: Action,
        viewer: Option<i64>,
        settings: ShapeSettings,
    ) -> PlanClass {
        let shape = PolicyShape::choose(org, object_type, action, viewer, settings);
        PlanClass::of_shape(&shape, org, object_type, action, viewer, settings)
    }

    /// The class of `shape`, chosen for `viewer`.
    pub fn of_shape(
        shape: &PolicyShape,
        org: &impl ShapeSource,
        object_type: &str,
        action: Action,
        viewer: Option<i64>,
        settings: ShapeSettings,
    ) -> PlanClass {
        let Some(v) = viewer else {
            return PlanClass::Only(None);
        };
        match shape {
            PolicyShape::AllRowsCompany { .. } => PlanClass::AllRows,
            PolicyShape::InlineFilter {
                owners,
                company,
                owner_index: true,
            } if few_owners(
                org,
                Some(*company),
                owners.len(),
                settings.owner_index_max_share,
            ) =>
            {
                PlanClass::FewOwners
            }
            PolicyShape::InlineFilter { .. } => PlanClass::Only(viewer),
            PolicyShape::ForViewer if settings.has_assignee => PlanClass::PerRow,
            PolicyShape::ForViewer => match org.owner_bound(object_type, action, v) {
                OwnerBound::Unbounded => PlanClass::PerRow,
                OwnerBound::Owners(owners) => {
                    let share = settings.owner_index_max_share;
                    if few_owners(org, org.company_of(v), owners.len(), share) {
                        PlanClass::FewOwners
                    } else {
                        PlanClass::Only(viewer)
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::engine::tests::random_org;

    /// How many users the company of `viewer` has (at least 1).
    fn users_of(c: &CompiledOrg, viewer: i64) -> f64 {
        c.company_of(viewer)
            .map_or(0, |co| c.company_user_count(co))
            .max(1) as f64
    }

    /// Each shape keeps its promise against `decide`, on the random organizations
    /// of the engine's tests: level `all` allows every record of its company, the
    /// inlined filter is exactly the decision (records without an assignee), and
    /// the owner index is offered exactly below the configured share.
    #[test]
    fn policy_shape_keeps_its_promise_against_decide() {
        let (mut all, mut inline, mut indexed, mut per_row) = (0, 0, 0, 0);
        for seed in 0..300 {
            let org = random_org(seed);
            let c = CompiledOrg::compile(&org);
            let users: Vec<i64> = org.snapshot.users.iter().map(|u| u.id).collect();
            let owners: Vec<Option<i64>> = users
                .iter()
                .map(|u| Some(*u))
                .chain([None, Some(999)])
                .collect();
            let share = [0.0, 0.3, 2.0][seed as usize % 3];
            for &viewer in users.iter().chain([&12345]) {
                for t in ["deals", "notes", "missing"] {
                    for &a in Action::ALL {
                        let settings = ShapeSettings {
                            has_assignee: false,
                            owner_index_max_share: share,
                        };
                        let shape = PolicyShape::choose(&c, t, a, Some(viewer), settings);
                        let with_assignee = PolicyShape::choose(
                            &c,
                            t,
                            a,
                            Some(viewer),
                            ShapeSettings {
                                has_assignee: true,
                                ..settings
                            },
                        );
                        match &shape {
                            PolicyShape::AllRowsCompany { company } => {
                                all += 1;
                                assert_eq!(with_assignee, shape, "level all ignores assignees");
                                for owner in &owners {
                                    for assignee in [None, Some(users[0])] {
                                        assert!(
                                            c.can_access(t, a, *owner, Some(*company), viewer, assignee),
                                            "seed {seed}: viewer {viewer} {a:?} {t} owner {owner:?} in {company}"
                                        );
                                    }
                                }
                            }
                            PolicyShape::InlineFilter {
                                owners: list,
                                company,
                                owner_index,
                            } => {
                                inline += 1;
                                indexed += usize::from(*owner_index);
                                assert_eq!(with_assignee, PolicyShape::ForViewer);
                                let users_of = c.company_user_count(*company).max(1) as f64;
                                assert_eq!(
                                    *owner_index,
                                    (list.len() as f64)
                                        < share * OWNER_INDEX_OFFER_FACTOR * users_of
                                );
                                for owner in &owners {
                                    for co in [Some(1), Some(2), None] {
                                        let inlined = co == Some(*company)
                                            && owner.is_some_and(|o| list.contains(&o));
                                        assert_eq!(
                                            c.can_access(t, a, *owner, co, viewer, None),
                                            inlined,
                                            "seed {seed}: viewer {viewer} {a:?} {t} owner {owner:?} company {co:?}"
                                        );
                                    }
                                }
                            }
                            PolicyShape::ForViewer => {
                                per_row += 1;
                                assert!(c.all_rows_company(t, a, viewer).is_none());
                                assert!(c.exact_owner_filter(t, a, viewer).is_none());
                            }
                        }
                    }
                }
            }
            for &a in Action::ALL {
                let none = ShapeSettings {
                    has_assignee: false,
                    owner_index_max_share: share,
                };
                assert_eq!(
                    PolicyShape::choose(&c, "deals", a, None, none),
                    PolicyShape::ForViewer
                );
            }
        }
        assert!(all > 100 && inline > 1000 && indexed > 100 && per_row > 100,
            "every shape was exercised: all {all}, inline {inline}, indexed {indexed}, per row {per_row}");
    }

    /// A plan's class promises what makes the plan fast for every viewer of the
    /// class: level `all` for `AllRows`; few enough owners, all of them found by
    /// the owner index, for `FewOwners`; no owner index and no estimate from the
    /// viewer for `PerRow`. Viewers of `Only` keep plans of their own.
    #[test]
    fn plan_classes_keep_their_promise() {
        let mut seen = std::collections::HashMap::new();
        for seed in 0..200 {
            let org = random_org(seed);
            let c = CompiledOrg::compile(&org);
            let share = [0.0, 0.3, 2.0][seed as usize % 3];
            for u in &org.snapshot.users {
                for has_assignee in [false, true] {
                    for &a in Action::ALL {
                        let settings = ShapeSettings {
                            has_assignee,
                            owner_index_max_share: share,
                        };
                        let class = PlanClass::of(&c, "deals", a, Some(u.id), settings);
                        let bound = c.owner_bound("deals", a, u.id);
                        let users_of = c
                            .company_of(u.id)
                            .map_or(0, |co| c.company_user_count(co))
                            .max(1) as f64;
                        match class {
                            PlanClass::AllRows => {
                                assert!(c.all_rows_company("deals", a, u.id).is_some())
                            }
                            PlanClass::FewOwners => {
                                assert!(!has_assignee);
                                let OwnerBound::Owners(o) = bound else {
                                    panic!("seed {seed}: few owners, unbounded")
                                };
                                assert!((o.len() as f64) < share * users_of);
                            }
                            PlanClass::PerRow => {
                                assert!(c.all_rows_company("deals", a, u.id).is_none());
                                assert!(has_assignee || bound == OwnerBound::Unbounded);
                            }
                            PlanClass::Only(v) => assert_eq!(v, Some(u.id)),
                        }
                        *seen
                            .entry(format!("{class:?}").split('(').next().unwrap().to_string())
                            .or_insert(0) += 1;
                    }
                }
            }
            assert_eq!(
                PlanClass::of(
                    &c,
                    "deals",
                    Action::View,
                    None,
                    ShapeSettings {
                        has_assignee: false,
                        owner_index_max_share: share
                    }
                ),
                PlanClass::Only(None)
            );
        }
        for class in ["AllRows", "FewOwners", "PerRow", "Only"] {
            assert!(
                seen.get(class).copied().unwrap_or(0) > 50,
                "{class} exercised: {seen:?}"
            );
        }
    }

    /// A viewer who reaches nothing beyond their company by the decision's
    /// cross-company steps is refused every record of another company, whoever owns
    /// or is assigned it: the level-`all` rewrite then refuses those rows without
    /// deciding them.
    #[test]
    fn nothing_beyond_the_company_means_every_record_of_another_company_refused() {
        let (mut beyond, mut not_beyond) = (0, 0);
        for seed in 0..300 {
            let org = random_org(seed);
            let c = CompiledOrg::compile(&org);
            let users = &org.snapshot.users;
            for v in users {
                for t in ["deals", "notes"] {
                    for &a in Action::ALL {
                        if c.reaches_beyond_company(t, a, v.id) {
                            beyond += 1;
                            continue;
                        }
                        not_beyond += 1;
                        for owner in users {
                            for company in [owner.company_id, 999] {
                                if Some(company) == c.company_of(v.id) {
                                    continue;
                                }
                                for assignee in [None, Some(v.id), Some(owner.id)] {
                                    assert!(
                                        !c.can_access(t, a, Some(owner.id), Some(company), v.id, assignee),
                                        "seed {seed}: viewer {} {a:?} {t} of {} in company {company}",
                                        v.id,
                                        owner.id
                                    );
                                }
                            }
                        }
                    }
                }
            }
            assert!(!c.reaches_beyond_company("deals", Action::View, 123_456_789));
        }
        assert!(beyond > 100 && not_beyond > 100, "{beyond} / {not_beyond}");
    }

    /// The reach bound is `reach` in time linear in the answer, and the shape of
    /// `can_see` inlines exactly it.
    #[test]
    fn reach_bound_is_reach_and_the_reach_shape_inlines_it() {
        let (mut few, mut many, mut per_row) = (0, 0, 0);
        for seed in 0..300 {
            let org = random_org(seed);
            let c = CompiledOrg::compile(&org);
            let share = [0.0, 0.3, 2.0][seed as usize % 3];
            for v in org.snapshot.users.iter().map(|u| u.id).chain([12345]) {
                let (shape, class) = ReachShape::choose(&c, Some(v), share);
                match c.reach_bound(v) {
                    OwnerBound::Unbounded => {
                        assert!(
                            c.can_see(999_999, v),
                            "seed {seed}: unbounded is a superuser"
                        );
                        assert_eq!((shape, class), (ReachShape::PerRow, PlanClass::PerRow));
                        per_row += 1;
                    }
                    OwnerBound::Owners(owners) => {
                        assert_eq!(owners, c.reach(v), "seed {seed}: viewer {v}");
                        let ReachShape::InlineOwners {
                            owners: inlined,
                            owner_index,
                        } = shape
                        else {
                            panic!("seed {seed}: bounded viewer {v} not inlined");
                        };
                        assert_eq!(inlined, owners);
                        // Kept across viewers only when few; the index is offered
                        // up to the offer factor (the planner chooses by cost).
                        let few_here = (owners.len() as f64) < share * users_of(&c, v);
                        assert_eq!(class == PlanClass::FewOwners, few_here);
                        assert_eq!(
                            owner_index,
                            (owners.len() as f64)
                                < share * OWNER_INDEX_OFFER_FACTOR * users_of(&c, v)
                        );
                        if few_here {
                            few += 1
                        } else {
                            many += 1
                        }
                    }
                }
            }
        }
        assert!(
            few > 100 && many > 100 && per_row > 10,
            "few {few}, many {many}, per row {per_row}"
        );
    }
}

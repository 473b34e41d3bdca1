//! The model's part of `sharing.advise()` (docs/sql-reference.md, "Advice"): which
//! sharing rules give nothing that the org-wide defaults, the hierarchy and the
//! levels of the roles they share with do not already give.
//!
//! A rule is judged for every membership the roles could have, not only for today's
//! users: a rule is [`RuleVerdict::Redundant`] when, for every object type and action
//! it shares and every role in its target, a user holding that role would already
//! reach every record of the rule's source through the org-wide default, their level
//! `all`, or the hierarchy (the rule's source role strictly below that role, on a
//! type granting through the hierarchy). Then the decision (docs/concepts.md, "The
//! decision") allows without the rule everything it allows with it, whoever holds
//! the roles and whatever other roles they hold; the unit tests check this against
//! [`CompiledOrg::decide_people`] on random organizations.

use super::engine::CompiledOrg;
use super::org::{Org, SharingRuleRow};
use super::perms::role_permissions;
use super::types::{Action, Level, RuleAccess};

/// What a sharing rule adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleVerdict {
    /// Some user holding a role of its target could gain records through it (or the
    /// rule names a role or type the model does not know: nothing to advise).
    Grants,
    /// The org-wide default of every type it covers already opens every action it
    /// shares, to everyone holding at least `owned`.
    CoveredByDefault,
    /// It shares nothing the defaults, the hierarchy and the target roles' levels do
    /// not already give; the text says why, for the advice's detail.
    Redundant(String),
}

/// A rule worth a word in `sharing.advise()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAdvice {
    pub rule_id: i64,
    pub company_id: i64,
    pub verdict: RuleVerdict,
}

/// The actions a rule shares: `view`, and `edit` for `read_write`.
fn shared_actions(access: RuleAccess) -> Vec<Action> {
    Action::ALL
        .iter()
        .copied()
        .filter(|a| access.covers(*a))
        .collect()
}

/// Judge one rule (see the module documentation).
pub fn rule_verdict(org: &Org, compiled: &CompiledOrg, rule: &SharingRuleRow) -> RuleVerdict {
    let types: Vec<&str> = match &rule.object_type {
        Some(t) if org.object_type(t).is_some() => vec![t.as_str()],
        Some(_) => return RuleVerdict::Grants,
        None => org.object_type_names().collect(),
    };
    let same_company = |id: i64| {
        org.role(id)
            .is_some_and(|r| r.company_id == rule.company_id)
    };
    if types.is_empty() || !same_company(rule.source_role) || !same_company(rule.target_role) {
        return RuleVerdict::Grants;
    }
    let actions = shared_actions(rule.access);
    let covered = |t: &str, a: Action| {
        org.object_type(t)
            .is_some_and(|ty| ty.org_wide_default.covers(a))
    };
    if types.iter().all(|t| actions.iter().all(|a| covered(t, *a))) {
        return RuleVerdict::CoveredByDefault;
    }
    let targets: Vec<i64> = org
        .snapshot
        .roles
        .iter()
        .filter(|r| {
            r.company_id == rule.company_id
                && compiled.role_in_scope(r.id, rule.target_role, rule.target_scope)
        })
        .map(|r| r.id)
        .collect();
    let (mut by_default, mut by_level, mut by_hierarchy) = (false, false, false);
    for &target in &targets {
        let perms = role_permissions(org, target);
        let above_source = compiled.role_strictly_below(rule.source_role, target);
        for t in &types {
            let via_hierarchy =
                above_source && org.object_type(t).is_some_and(|ty| ty.grant_via_hierarchy);
            for &a in &actions {
                if covered(t, a) {
                    by_default = true;
                } else if perms.level(t, a) == Level::All {
                    by_level = true;
                } else if via_hierarchy {
                    by_hierarchy = true;
                } else {
                    return RuleVerdict::Grants;
                }
            }
        }
    }
    let mut ways = Vec::new();
    if by_hierarchy {
        ways.push("the hierarchy (each is above the source role)");
    }
    if by_level {
        ways.push("their level all");
    }
    if by_default {
        ways.push("the org-wide default");
    }
    let ways = if ways.is_empty() {
        "no role is in its target".to_string()
    } else {
        format!(
            "every role it shares with already reaches the source's records through {}",
            ways.join(", ")
        )
    };
    RuleVerdict::Redundant(ways)
}

/// The rules of `company` (every company: `None`) that give nothing, in id order.
pub fn rule_advice(org: &Org, compiled: &CompiledOrg, company: Option<i64>) -> Vec<RuleAdvice> {
    let mut rules: Vec<&SharingRuleRow> = org
        .snapshot
        .sharing_rules
        .iter()
        .filter(|r| company.is_none_or(|c| r.company_id == c))
        .collect();
    rules.sort_by_key(|r| r.id);
    rules
        .into_iter()
        .filter_map(|r| match rule_verdict(org, compiled, r) {
            RuleVerdict::Grants => None,
            verdict => Some(RuleAdvice {
                rule_id: r.id,
                company_id: r.company_id,
                verdict,
            }),
        })
        .collect()
}

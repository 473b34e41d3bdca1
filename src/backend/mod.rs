//! Every piece of per-backend state, and when each is dropped.
//!
//! A PostgreSQL backend serves one session at a time, so state is kept in
//! `thread_local!`s, each owned by one module below. `sql_api` keeps none; `pg`
//! keeps only two caches of PostgreSQL objects (listed last). The rule that makes
//! them safe: everything remembered is keyed by what its answer depends on, or
//! dropped by a callback when that changes — never by a timer or a guess.
//!
//! | state | module | key / lifetime | dropped when |
//! |---|---|---|---|
//! | compiled models (two, most recent first) | [`models`] | (generation table, generation, own command id if this transaction wrote it) | a key is not among the two; the generation moves with every configuration change (sql/generation.sql); a model patched to a newer generation from the change log (`sharing._changes`) leaves its old key (kept under it only while something else holds it) |
//! | snapshot → model key | [`models`] | MVCC snapshot key (`pg::mvcc`; on a node running Citus, with the statement's start) | the next statement with another snapshot reads the generation again |
//! | owner bounds and inlinable filters | [`models`] (`CachedModel`) | (viewer, action, type), with their model | with their model; emptied past 64 entries |
//! | signatures for the effect check | [`models`] (`CachedModel`) | computed once per model | with their model |
//! | shares reaching a viewer | [`shares`] | (share generation, own command id if this transaction moved it, viewer, action, type), with the transaction start of the read | the share generation moves (every statement writing `record_shares` or the configuration, sql/generation.sql); an older transaction reads again; emptied past 256 entries |
//! | the statement's shared ids | [`shares`] | (snapshot, transaction start, viewer, action, type) | the next statement with another key |
//! | viewer memo | [`viewer`] | (snapshot, asking role, `sharing.viewer` assignments, scope is session, set locally) | any of those changes; errors are never remembered |
//! | viewer directory (mapped logins, trusted roles) | [`viewer`] | the model's `DirectoryKey`: the generation that last mapped or unmapped a login (a configuration this transaction wrote: its model key) | another key (a change that maps a login, or of the trusted roles, which is compiled); role names and memberships are not kept here but asked of PostgreSQL's role caches |
//! | "may ask about anyone" memo | [`authority`] | (snapshot, asking role) | either changes |
//! | plan epoch | [`plans`] | the calls shaped since the last reset, each with the class of the viewer it was planned for (`PlanClass`) | a model is compiled, `sharing.viewer` is assigned a viewer whose plan would be of another class (judged on the last model), or `_index_owners` / `_reach_owners_current` finds a stale plan: `ResetPlanCache()` |
//! | counts of shaped calls and resets | [`plans`] | — | never (they only grow; `_model_stats()`) |
//! | counts of rebuilds and patches | [`models`] | — | never (they only grow; `_model_stats()`) |
//! | effect chain (baseline, origin, open statements) | [`effect`] | the local transaction id | a new transaction uses it; `open` and the baseline restored when a subtransaction aborts (callback from `_PG_init`); the baseline is dropped by statements that are not judged |
//! | `sharing.viewer` assignments | [`gucs`] | a counter bumped by the assign hook | never (it only grows) |
//! | PostgreSQL's record of `sharing.viewer` | [`gucs`] | found once | never (custom variables never move) |
//! | kept SPI plans | `pg::spi` | query text | never (generic plans; PostgreSQL re-analyzes them after invalidation) |
//! | function OIDs | `pg::catalog` | — | any change to pg_proc (syscache callback from `_PG_init`) |
//!
//! Other sessions' plans: every configuration statement invalidates the relcache
//! of the protected tables (`_forget_plans`), so they re-plan at their next
//! transaction — except a change of people that cannot unbound a viewer
//! (docs/design.md, "Plans across configurations"); their models follow the
//! generation.
//!
//! Modules: [`shares`] (record shares as read per question),
//! [`models`] (the model cache; [`loader`] reads the configuration into
//! it), [`viewer`] (who is asking), [`authority`] (who is acting, who may ask about
//! whom), [`effect`] (the check by effect's chain), [`plans`] and [`planner`] (the
//! planner support), [`gucs`] (every configuration parameter), [`portable`] (export
//! and import of one company; no state).

pub mod authority;
pub mod citus;
pub mod effect;
pub mod gucs;
pub mod loader;
pub mod models;
pub mod planner;
pub mod plans;
pub mod portable;
pub mod prepare;
pub mod shared;
pub mod shares;
pub mod viewer;

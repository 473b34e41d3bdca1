//! Cancellation for long loops of the model, without pgrx.
//!
//! A loop that can run long (one step per role, user, rule or document element)
//! calls [`Ticker::tick`] each iteration; every [`Ticker::EVERY`] steps that calls
//! the hook installed by the SQL side, which is PostgreSQL's `CHECK_FOR_INTERRUPTS`
//! there: `statement_timeout`, a query cancel or a terminate then raise the usual
//! ERROR (57014 / 57P01) in the middle of a rebuild or an import. Outside a
//! backend (unit tests) the hook does nothing unless a test installs one.

use std::sync::RwLock;

fn nothing() {}

static HOOK: RwLock<fn()> = RwLock::new(nothing);

/// Install the interrupt check (the SQL side passes a function that runs
/// `pgrx::check_for_interrupts!()`). Cheap enough to call before every rebuild.
pub fn set_interrupt_check(check: fn()) {
    // A poisoned lock only means a panic while replacing a plain fn pointer.
    *HOOK.write().unwrap_or_else(|e| e.into_inner()) = check;
}

/// Run the installed check now. It may not return (an ERROR unwinds from here),
/// so callers hold nothing that must be released by hand.
pub fn check_interrupts() {
    let check = *HOOK.read().unwrap_or_else(|e| e.into_inner());
    check();
}

/// Counts the iterations of a loop and checks for interrupts every
/// [`Ticker::EVERY`] of them.
#[derive(Debug, Default)]
pub struct Ticker(u32);

impl Ticker {
    /// A few microseconds of work at most between two checks.
    pub const EVERY: u32 = 1024;

    pub fn new() -> Ticker {
        Ticker(0)
    }

    #[inline]
    pub fn tick(&mut self) {
        self.0 = self.0.wrapping_add(1);
        if self.0.is_multiple_of(Self::EVERY) {
            check_interrupts();
        }
    }
}

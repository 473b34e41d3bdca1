//! PostgreSQL's interrupts (statement_timeout, cancel) in the model's long loops.

/// PostgreSQL's CHECK_FOR_INTERRUPTS, for the long loops of the model.
fn check_for_interrupts() {
    pgrx::check_for_interrupts!();
}

/// Let the model's long loops (a rebuild, an import's validation) honour
/// `statement_timeout` and cancels: see `model::interrupts`.
pub fn install_interrupt_check() {
    crate::model::interrupts::set_interrupt_check(check_for_interrupts);
}

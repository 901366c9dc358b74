//! How a component run ended, in words: the limit or rule that stopped
//! it, its own error, or its trap with the end of its output.

use wasmtime::Trap;

use super::host::{SandboxViolation, TransactionEnded};
use super::limiter::LimitExceeded;
use crate::limits::Limits;
use crate::report::Direction;

/// How a run ended, as far as its outcome's message needs.
pub(super) struct Ran<'a> {
    pub(super) direction: Direction,
    pub(super) limits: &'a Limits,
    pub(super) stderr: &'a str,
    /// The log limit was reached by stdout or stderr.
    pub(super) output_full: bool,
    /// The guest read the (empty) process environment.
    pub(super) env_read: bool,
}

impl Ran<'_> {
    /// The run's outcome: `Err` holds the reason the migration failed,
    /// ready to show.
    pub(super) fn outcome(
        &self,
        result: wasmtime::Result<Result<(), String>>,
    ) -> Result<(), String> {
        let export = match self.direction {
            Direction::Up => "up",
            Direction::Down => "down",
        };
        // (A panicking guest reads the environment too, for RUST_BACKTRACE:
        // the note is for migrations that failed on their own terms.)
        let returned_error = matches!(result, Ok(Err(_)));
        let outcome = match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) if self.output_full => Err(format!(
                "stopped: the log limit of {} KiB was reached by its stdout or stderr (set \
                 `log_kb` under [limits] in wasmig.toml, or in its policy, to raise it)",
                self.limits.log_kb
            )),
            Ok(Err(message)) => Err(format!("`{export}` returned an error: {message}")),
            Err(trap) => Err(describe_trap(&trap, self.limits, self.stderr)),
        };
        outcome.map_err(|mut reason| {
            if self.env_read && returned_error {
                reason.push_str(
                    "\n  note: it read the process environment, which the sandbox leaves \
                     empty; a migration reads the config values the operator allows with \
                     env.var ([env.NAME] vars in wasmig.toml)",
                );
            }
            reason
        })
    }
}

/// Explains a trap: which limit or rule stopped the guest, or the guest's own
/// panic message from its stderr.
fn describe_trap(trap: &wasmtime::Error, limits: &Limits, stderr: &str) -> String {
    if let Some(limit) = trap.downcast_ref::<LimitExceeded>() {
        return format!("stopped: {limit}");
    }
    if let Some(violation) = trap.downcast_ref::<SandboxViolation>() {
        return format!("refused: {violation}");
    }
    match trap.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => {
            return "stopped: its call stack overflowed (unbounded recursion?); the stack \
                    limit is fixed at 1 MiB"
                .to_owned();
        }
        // Rust and C keep their stack in linear memory, below the data: an
        // overflow runs off its start.
        Some(Trap::MemoryOutOfBounds) => {
            return "trapped: out-of-bounds memory access, typically its stack overflowing \
                    (unbounded recursion) or a bug in the migration"
                .to_owned();
        }
        _ => {}
    }
    if let Some(ended) = trap.downcast_ref::<TransactionEnded>() {
        return ended.to_string();
    }
    if trap.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return format!(
            "stopped: it used its whole CPU budget of {} fuel units (an endless loop?); if it \
             legitimately needs more, raise `fuel` under [limits] in wasmig.toml",
            limits.fuel
        );
    }
    let mut reason = format!("trapped: {}", root_message(trap));
    let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
    if !tail.is_empty() {
        reason.push_str("\n  guest output:");
        for line in tail.into_iter().rev() {
            reason.push_str("\n    ");
            reason.push_str(line);
        }
    }
    reason
}

fn root_message(err: &wasmtime::Error) -> String {
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return trap.to_string();
    }
    err.chain()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

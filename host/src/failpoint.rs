//! Failpoints for the kill trials (`tests/kills.rs`): in a debug build,
//! `WASMIG_FAILPOINT=<name>` (or `<name>@<n>`, the n-th time, default the
//! first) makes the process kill itself with SIGKILL when it reaches the
//! named boundary, exactly as an operator's `kill -9` or the OOM killer
//! would there. Release builds compile them out.
//!
//! | name | where |
//! |---|---|
//! | `begun` | a migration's transaction is open, nothing of it has run |
//! | `statement` | a statement of a SQL script or a component has just run |
//! | `marked` | the *failed (interrupted)* row was just written (MySQL DDL, no-transaction migrations) |
//! | `executed` | the migration's body ran; its ledger row is not written yet |
//! | `recorded` | the ledger row and history are written, not committed |
//! | `committed` | the migration committed; the next one has not begun |
//! | `compiling` | a component is about to be compiled |
//! | `renewed` | the lease was just renewed (`--lock lease`) |

/// Kills the process here when `WASMIG_FAILPOINT` names `name` and this is
/// the time it asks for.
#[cfg(all(debug_assertions, unix))]
pub(crate) fn hit(name: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: AtomicU64 = AtomicU64::new(0);
    let Ok(wanted) = std::env::var("WASMIG_FAILPOINT") else {
        return;
    };
    let (point, nth) = match wanted.split_once('@') {
        Some((point, n)) => (point, n.parse::<u64>().unwrap_or(1)),
        None => (wanted.as_str(), 1),
    };
    if point != name {
        return;
    }
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

/// Failpoints exist in debug builds only.
#[cfg(not(all(debug_assertions, unix)))]
#[inline(always)]
pub(crate) fn hit(_name: &str) {}

//! The WASI world a guest sees: nothing ambient.
//!
//! | capability | what the guest gets |
//! |---|---|
//! | files | none: opening any path stops the migration |
//! | network | none: opening a socket or looking up a name stops the migration |
//! | environment variables, arguments | none (config values come from `env.var`) |
//! | stdin | closed |
//! | stdout, stderr | captured (up to the `log_kb` limit each) into the run's log |
//! | wall clock | fixed at the migration's instant (see [`migration_instant`]) |
//! | monotonic clock | starts at 0, advances 1 µs per read |
//! | random, insecure random | a ChaCha12 stream seeded from the migration's checksum |
//!
//! With these, a migration run twice against the same database state and
//! environment issues the same statements.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// The generator is named, not `rand`'s `StdRng`, whose algorithm may change
// between versions: the stream is part of what makes a migration
// deterministic, and a test pins it.
use chacha20::ChaCha12Rng;
use chacha20::rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

/// The captured stdout and stderr of a run.
#[derive(Clone)]
pub(crate) struct CapturedOutput {
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

impl CapturedOutput {
    pub(crate) fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout.contents()).into_owned()
    }

    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }
}

/// Builds the WASI context for one run of the migration whose checksum is
/// `checksum` and whose version is `version`.
/// `output_capacity` bounds stdout and stderr, each; writes beyond it trap.
pub(crate) fn wasi_context(
    version: i64,
    checksum: &str,
    output_capacity: usize,
) -> (WasiCtx, CapturedOutput) {
    let output = CapturedOutput {
        stdout: MemoryOutputPipe::new(output_capacity),
        stderr: MemoryOutputPipe::new(output_capacity),
    };
    let (secure, insecure, seed_u128) = random_streams(checksum);
    let ctx = WasiCtxBuilder::new()
        .stdout(output.stdout.clone())
        .stderr(output.stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .wall_clock(FixedWallClock(migration_instant(version)))
        .monotonic_clock(SteppingMonotonicClock::default())
        .secure_random(secure)
        .insecure_random(insecure)
        .insecure_random_seed(seed_u128)
        .build();
    (ctx, output)
}

/// The guest's random streams (secure, insecure) and its insecure seed,
/// all derived from the migration's checksum.
fn random_streams(checksum: &str) -> (ChaCha12Rng, ChaCha12Rng, u128) {
    let seed: [u8; 32] = Sha256::digest(format!("wasmig-random:{checksum}")).into();
    let insecure_seed: [u8; 32] = Sha256::digest(format!("wasmig-insecure:{checksum}")).into();
    let mut seed_u128 = [0u8; 16];
    seed_u128.copy_from_slice(&insecure_seed[..16]);
    (
        ChaCha12Rng::from_seed(seed),
        ChaCha12Rng::from_seed(insecure_seed),
        u128::from_le_bytes(seed_u128),
    )
}

/// The instant a migration's wall clock reads, as time since the Unix epoch.
///
/// A version written as a UTC timestamp (`YYYYMMDDHHMMSS`, as `wasmig new`
/// and sqlx name migrations) reads as that instant; any other version reads
/// as 2000-01-01T00:00:00Z. Either way it is the same on every run.
pub fn migration_instant(version: i64) -> Duration {
    const Y2K: u64 = 946_684_800;
    timestamp_version(version).map_or(Duration::from_secs(Y2K), Duration::from_secs)
}

fn timestamp_version(version: i64) -> Option<u64> {
    if !(19_700_101_000_000..=99_991_231_235_959).contains(&version) {
        return None;
    }
    let v = version as u64;
    let (date, time) = (v / 1_000_000, v % 1_000_000);
    let (year, month, day) = (date / 10_000, (date / 100) % 100, date % 100);
    let (hour, minute, second) = (time / 10_000, (time / 100) % 100, time % 100);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year as i64, month as i64, day as i64);
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct FixedWallClock(Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// Advances one microsecond per read, so code that waits for time to pass
/// terminates, and does so identically on every run.
#[derive(Default)]
struct SteppingMonotonicClock(AtomicU64);

impl HostMonotonicClock for SteppingMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000
    }

    fn now(&self) -> u64 {
        self.0.fetch_add(1_000, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_versions_read_as_their_instant() {
        // 2024-05-01T12:30:00Z
        assert_eq!(migration_instant(20240501123000).as_secs(), 1_714_566_600);
        assert_eq!(migration_instant(19700101000000).as_secs(), 0);
    }

    /// The streams a guest reads are pinned: a change of generator or of
    /// seeding would change what migrations that draw random numbers do.
    #[test]
    fn the_random_streams_are_pinned() {
        use chacha20::rand_core::Rng;
        let (mut secure, mut insecure, seed) = random_streams(&"ab".repeat(32));
        let drawn = [secure.next_u64(), secure.next_u64(), insecure.next_u64()];
        assert_eq!(drawn, PINNED, "drawn: {drawn:#x?}");
        assert_eq!(seed, PINNED_SEED, "seed: {seed:#x}");
    }

    const PINNED: [u64; 3] = [
        0x3ea5_1fd9_ec05_1f41,
        0xcf8c_3c23_833b_55df,
        0xbd90_fd23_901d_f3dc,
    ];
    const PINNED_SEED: u128 = 0x1308_12ec_fb60_2498_bb66_ba10_ee58_b4e3;

    #[test]
    fn other_versions_read_as_y2k() {
        assert_eq!(migration_instant(3).as_secs(), 946_684_800);
        assert_eq!(migration_instant(20241301000000).as_secs(), 946_684_800);
    }
}

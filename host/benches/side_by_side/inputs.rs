//! The benchmark's inputs: guest components, migration directories, and
//! timed runs of a command.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_owned)
        .unwrap_or_default()
}

/// Builds the guest components of `tests/guests` (the test suite's, which
/// include the benchmark's) and returns the directory holding them.
pub fn build_guests() -> Result<PathBuf> {
    let target = repo().join("target/guest-fixtures");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(repo().join("tests/guests/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .context("running cargo to build the guest components")?;
    if !status.success() {
        bail!("building tests/guests failed (`rustup target add wasm32-wasip2`?)");
    }
    Ok(target.join("wasm32-wasip2/release"))
}

/// `bytes` with a custom section appended: the same component, a different
/// sha256 (so each copy is compiled on its own).
pub fn with_nonce(bytes: &[u8], nonce: usize) -> Vec<u8> {
    let name = b"wasmig-bench-nonce";
    let payload = nonce.to_string().into_bytes();
    let mut body = leb128(name.len());
    body.extend_from_slice(name);
    body.extend_from_slice(&payload);
    let mut out = bytes.to_vec();
    out.push(0);
    out.extend(leb128(body.len()));
    out.extend(body);
    out
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Writes `count` trivial migrations (one `CREATE TABLE` each) in sqlx's
/// layout (plain `<version>_<name>.sql`, which wasmig reads too) and in
/// dbmate's (`-- migrate:up` sections); returns both directories.
pub fn trivial_migrations(root: &Path, count: usize) -> Result<(PathBuf, PathBuf)> {
    let plain = root.join(format!("plain_{count}"));
    let dbmate = root.join(format!("dbmate_{count}"));
    fs::create_dir_all(&plain)?;
    fs::create_dir_all(&dbmate)?;
    for i in 1..=count {
        let name = format!("{i:06}_create_t{i}.sql");
        let create = format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name TEXT);\n");
        fs::write(plain.join(&name), &create)?;
        fs::write(
            dbmate.join(&name),
            format!("-- migrate:up\n{create}\n-- migrate:down\nDROP TABLE t{i};\n"),
        )?;
    }
    Ok((plain, dbmate))
}

/// A finished, timed command.
pub struct Timed {
    pub elapsed: Duration,
    /// The peak resident set size, in bytes (Linux; 0 elsewhere).
    pub peak_rss: u64,
}

/// Runs `command` to completion, timing it and sampling its peak memory.
pub fn timed(command: &mut Command) -> Result<Timed> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let status_path = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak_rss = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        // VmHWM is the peak so far; the last reading before exit is the
        // run's peak to within one sampling interval.
        if let Ok(text) = fs::read_to_string(&status_path)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_rss = peak_rss.max(kb * 1024);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = started.elapsed();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            use std::io::Read;
            let _ = stderr.read_to_string(&mut err);
        }
        bail!("{command:?} failed ({status}):\n{err}");
    }
    Ok(Timed { elapsed, peak_rss })
}

/// How many times each contender of a comparison runs.
pub const ROUNDS: usize = 3;

/// Runs every contender once per round, in turn (A B C, A B C, …), so that
/// a slow spell of the machine falls on all of them alike, and returns each
/// contender's median run (by elapsed time).
pub fn interleaved<const N: usize>(
    rounds: usize,
    mut contenders: [&mut dyn FnMut() -> Result<Timed>; N],
) -> Result<[Timed; N]> {
    let mut runs: [Vec<Timed>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..rounds.max(1) {
        for (contender, runs) in contenders.iter_mut().zip(runs.iter_mut()) {
            runs.push(contender()?);
        }
    }
    Ok(runs.map(median))
}

/// The median of `runs` (the lower middle one of an even count).
pub fn median(mut runs: Vec<Timed>) -> Timed {
    runs.sort_by_key(|t| t.elapsed);
    let middle = (runs.len().saturating_sub(1)) / 2;
    runs.swap_remove(middle)
}

/// A run timed by the benchmark itself rather than as a child process.
pub fn took(elapsed: Duration) -> Timed {
    Timed {
        elapsed,
        peak_rss: 0,
    }
}

//! Remembered checksums, so `status` on a directory of thousands of
//! migrations reads file metadata, not file contents.
//!
//! Like git's index: each entry maps a file's path and what `stat` says of
//! it (size, modification and change times, inode) to the checksum of its
//! contents. A file whose metadata still matches is not read again. Any
//! write to a file changes its change time (which no program can set back),
//! and a file replaced by another changes its inode, so an edit is always
//! seen. A file changed within two seconds of being hashed is never
//! remembered ("racily clean"), so an edit in the same clock tick as the
//! hash cannot hide either.
//!
//! The file lives in the compile cache's directory and is signed with its
//! key: a file another user wrote, or a damaged one, is ignored, never
//! trusted. `--no-cache` turns it off with the compile cache.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::runtime::cache;

const HEADER: &str = "wasmig-checksums 1";
/// Files changed this recently are hashed again on every run.
const RACY: Duration = Duration::from_secs(2);

/// What `stat` says of a file, as far as the cache cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
}

impl Stamp {
    /// The stamp of the file at `path`, where the platform has one.
    pub(crate) fn of(path: &Path) -> Option<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = fs::metadata(path).ok()?;
            let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
            Some(Self {
                len: meta.len(),
                mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
                ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
                ino: meta.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }
}

/// The remembered checksums of one set of migrations directories.
#[derive(Debug)]
pub(crate) struct ChecksumCache {
    file: PathBuf,
    key: [u8; 32],
    entries: HashMap<String, (Stamp, String)>,
    learned: Vec<(String, Stamp, String)>,
}

impl ChecksumCache {
    /// Opens the checksums of `dirs` in the cache directory `cache_dir`;
    /// `None` when the directory cannot be used (as for the compile cache).
    pub(crate) fn open(cache_dir: &Path, dirs: &[PathBuf]) -> Option<Self> {
        let key = cache::signing_key(cache_dir).ok()?;
        let mut id = Sha256::new();
        for dir in dirs {
            let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            id.update(dir.as_os_str().as_encoded_bytes());
            id.update([0]);
        }
        let file = cache_dir
            .join("checksums")
            .join(format!("{}.txt", hex::encode(&id.finalize()[..16])));
        let entries = fs::read(&file)
            .ok()
            .and_then(|bytes| parse(&key, &bytes))
            .unwrap_or_default();
        Some(Self {
            file,
            key,
            entries,
            learned: Vec::new(),
        })
    }

    /// The checksum remembered for `path`, if its stamp still matches.
    pub(crate) fn get(&self, path: &Path, stamp: Stamp) -> Option<&str> {
        match self.entries.get(path.to_str()?) {
            Some((known, sum)) if *known == stamp => Some(sum),
            _ => None,
        }
    }

    /// Remembers `sum` for `path` at `stamp`, unless the file changed too
    /// recently to be sure the stamp will show its next change.
    pub(crate) fn learn(&mut self, path: &Path, stamp: Stamp, sum: String) {
        let Some(path) = path.to_str().filter(|p| !p.contains('\n')) else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let settled = (now - RACY.as_nanos() as i128).min(now);
        if stamp.ctime_ns < settled && stamp.mtime_ns < settled {
            self.learned.push((path.to_owned(), stamp, sum));
        }
    }

    /// Writes the entries (the files seen this run) back, when anything
    /// was learned. Failing to write only costs the next run some reading.
    pub(crate) fn save(mut self, seen: &[PathBuf]) {
        if self.learned.is_empty() {
            return;
        }
        let mut keep: HashMap<String, (Stamp, String)> = HashMap::with_capacity(seen.len());
        for path in seen {
            if let Some(path) = path.to_str()
                && let Some(entry) = self.entries.remove(path)
            {
                keep.insert(path.to_owned(), entry);
            }
        }
        for (path, stamp, sum) in self.learned {
            keep.insert(path, (stamp, sum));
        }
        let mut body = String::with_capacity(keep.len() * 128);
        for (path, (s, sum)) in &keep {
            body.push_str(&format!(
                "{sum} {} {} {} {} {path}\n",
                s.len, s.mtime_ns, s.ctime_ns, s.ino
            ));
        }
        let mac = hex::encode(cache::sign(&self.key, body.as_bytes()));
        let Some(dir) = self.file.parent() else {
            return;
        };
        let write = || -> std::io::Result<()> {
            fs::create_dir_all(dir)?;
            let mut temp = tempfile::Builder::new()
                .prefix(".checksums-")
                .tempfile_in(dir)?;
            temp.write_all(format!("{HEADER} {mac}\n").as_bytes())?;
            temp.write_all(body.as_bytes())?;
            temp.persist(&self.file).map_err(|e| e.error)?;
            Ok(())
        };
        let _ = write();
    }
}

/// Reads a signed checksums file; `None` when it is not one this cache
/// wrote intact.
fn parse(key: &[u8], bytes: &[u8]) -> Option<HashMap<String, (Stamp, String)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (first, body) = text.split_once('\n')?;
    let mac = hex::decode(first.strip_prefix(HEADER)?.trim()).ok()?;
    if !cache::verify(key, body.as_bytes(), &mac) {
        return None;
    }
    let mut entries = HashMap::new();
    for line in body.lines() {
        let mut fields = line.splitn(6, ' ');
        let sum = fields.next()?.to_owned();
        let stamp = Stamp {
            len: fields.next()?.parse().ok()?,
            mtime_ns: fields.next()?.parse().ok()?,
            ctime_ns: fields.next()?.parse().ok()?,
            ino: fields.next()?.parse().ok()?,
        };
        entries.insert(fields.next()?.to_owned(), (stamp, sum));
    }
    Some(entries)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn old_stamp(len: u64) -> Stamp {
        Stamp {
            len,
            mtime_ns: 1_000_000_000,
            ctime_ns: 1_000_000_000,
            ino: 7,
        }
    }

    #[test]
    fn a_saved_entry_is_found_until_the_file_changes() {
        let cache_dir = tempfile::tempdir().unwrap();
        let dirs = [PathBuf::from("/project/migrations")];
        let path = PathBuf::from("/project/migrations/1_a.sql");
        let mut cache = ChecksumCache::open(cache_dir.path(), &dirs).unwrap();
        cache.learn(&path, old_stamp(10), "abc".into());
        cache.save(std::slice::from_ref(&path));
        let cache = ChecksumCache::open(cache_dir.path(), &dirs).unwrap();
        assert_eq!(cache.get(&path, old_stamp(10)), Some("abc"));
        assert_eq!(cache.get(&path, old_stamp(11)), None);
        let touched = Stamp {
            ctime_ns: 2_000_000_000,
            ..old_stamp(10)
        };
        assert_eq!(cache.get(&path, touched), None);
    }

    #[test]
    fn a_file_changed_just_now_is_not_remembered() {
        let cache_dir = tempfile::tempdir().unwrap();
        let dirs = [PathBuf::from("/p")];
        let file = cache_dir.path().join("fresh.sql");
        fs::write(&file, "x").unwrap();
        let stamp = Stamp::of(&file).unwrap();
        let mut cache = ChecksumCache::open(cache_dir.path(), &dirs).unwrap();
        cache.learn(&file, stamp, "abc".into());
        cache.save(std::slice::from_ref(&file));
        let cache = ChecksumCache::open(cache_dir.path(), &dirs).unwrap();
        assert_eq!(cache.get(&file, stamp), None);
    }

    #[test]
    fn a_tampered_file_is_ignored() {
        let cache_dir = tempfile::tempdir().unwrap();
        let dirs = [PathBuf::from("/p")];
        let path = PathBuf::from("/p/1_a.sql");
        let mut cache = ChecksumCache::open(cache_dir.path(), &dirs).unwrap();
        cache.learn(&path, old_stamp(1), "abc".into());
        let file = cache.file.clone();
        cache.save(std::slice::from_ref(&path));
        let text = fs::read_to_string(&file).unwrap();
        fs::write(&file, text.replace("abc", "abd")).unwrap();
        let cache = ChecksumCache::open(cache_dir.path(), &dirs).unwrap();
        assert_eq!(cache.get(&path, old_stamp(1)), None);
    }
}

//! The compile cache: precompiled components, so a component is compiled
//! once per machine rather than once per run.
//!
//! Loading a precompiled artifact is loading native code: bytes that did not
//! come from this host's own compiler are arbitrary code execution. So the
//! cache only ever loads what it wrote itself:
//!
//! - every entry carries an HMAC-SHA256 over the component's sha256, the
//!   engine's identity and the artifact, under a key that lives in the cache
//!   directory and is readable by its owner only; an entry that is corrupt,
//!   truncated, copied from another cache or written by anyone else fails the
//!   check and is compiled again, never loaded;
//! - on Unix the directory must belong to the current user and be writable
//!   by nobody else, or the cache is not used at all;
//! - entries are keyed by the component's sha256 and by a digest of the
//!   engine's compatibility hash (wasmtime version and every setting that
//!   changes generated code), so another wasmig or another configuration
//!   never sees them;
//! - writes go to a temporary file that is renamed into place, so concurrent
//!   runners on one machine see a whole entry or none.
//!
//! Layout: `<dir>/key`, and `<dir>/<engine id>/<component sha256>.cwasm`.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The first bytes of every entry.
const MAGIC: &[u8] = b"wasmig-cwasm\x01";
const MAC_LEN: usize = 32;
const KEY_FILE: &str = "key";

/// A directory of precompiled components, opened for one engine.
#[derive(Debug)]
pub struct CompileCache {
    dir: PathBuf,
    key: [u8; 32],
    engine_id: String,
}

/// Why the cache cannot be used; the run carries on compiling everything.
#[derive(Debug, thiserror::Error)]
#[error("the compile cache {} cannot be used: {message}", dir.display())]
pub struct CacheUnavailable {
    /// The cache directory.
    pub dir: PathBuf,
    /// What is wrong, and what to do.
    pub message: String,
}

/// What a cache lookup found.
pub(crate) enum Lookup {
    /// A verified entry, loaded.
    Hit(Component),
    /// Nothing stored for this component and engine.
    Miss,
    /// An entry was there but is not one this cache wrote intact: it was
    /// ignored and will be replaced.
    Rejected(String),
}

impl CompileCache {
    /// Opens (creating if needed) the cache in `dir` for `engine`.
    ///
    /// # Errors
    /// [`CacheUnavailable`] when the directory cannot be created or read,
    /// belongs to another user or is writable by others, or its key file is
    /// unreadable, of the wrong size or readable by others.
    pub fn open(dir: &Path, engine: &Engine) -> Result<Self, CacheUnavailable> {
        let unavailable = |message: String| CacheUnavailable {
            dir: dir.to_owned(),
            message,
        };
        create_private_dir(dir).map_err(|e| unavailable(format!("cannot create it: {e}")))?;
        check_private(dir, 0o022).map_err(unavailable)?;
        let key = read_or_create_key(dir).map_err(unavailable)?;
        Ok(Self {
            dir: dir.to_owned(),
            key,
            engine_id: engine_id(engine),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, component_sha256: &str) -> PathBuf {
        self.dir
            .join(&self.engine_id)
            .join(format!("{component_sha256}.cwasm"))
    }

    /// Loads the entry for the component whose sha256 is `component_sha256`,
    /// if this cache wrote one for `engine` and it is intact.
    pub(crate) fn get(&self, engine: &Engine, component_sha256: &str) -> Lookup {
        let path = self.entry_path(component_sha256);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Lookup::Miss,
            Err(e) => return Lookup::Rejected(format!("cannot read {}: {e}", path.display())),
        };
        let rejected = |why: &str| {
            Lookup::Rejected(format!(
                "ignored the cache entry {}: {why}; compiling the component again",
                path.display()
            ))
        };
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            return rejected("it is not a wasmig cache entry");
        };
        if rest.len() < MAC_LEN {
            return rejected("it is truncated");
        }
        let (mac, artifact) = rest.split_at(MAC_LEN);
        if !hmac_matches(
            &self.key,
            &self.signed_parts(component_sha256, artifact),
            mac,
        ) {
            return rejected(
                "it does not carry this cache's signature (corrupt, or not written by this cache)",
            );
        }
        match deserialize(engine, artifact) {
            Ok(component) => Lookup::Hit(component),
            Err(e) => rejected(&format!("the engine refused it ({e:#})")),
        }
    }

    /// Stores `component`, compiled from the component whose sha256 is
    /// `component_sha256`.
    ///
    /// # Errors
    /// When serializing or writing fails; the run can carry on without it.
    pub(crate) fn put(&self, component_sha256: &str, component: &Component) -> io::Result<()> {
        let artifact = component
            .serialize()
            .map_err(|e| io::Error::other(format!("{e:#}")))?;
        let path = self.entry_path(component_sha256);
        let parent = path.parent().unwrap_or(&self.dir);
        create_private_dir(parent)?;
        let mac = hmac_sha256(&self.key, &self.signed_parts(component_sha256, &artifact));
        let mut temp = tempfile::Builder::new()
            .prefix(".entry-")
            .tempfile_in(parent)?;
        temp.write_all(MAGIC)?;
        temp.write_all(&mac)?;
        temp.write_all(&artifact)?;
        temp.as_file().sync_all()?;
        temp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    /// What an entry's MAC covers: the component's sha256, the engine's
    /// identity and the artifact.
    fn signed_parts<'a>(&'a self, component_sha256: &'a str, artifact: &'a [u8]) -> [&'a [u8]; 3] {
        [
            component_sha256.as_bytes(),
            self.engine_id.as_bytes(),
            artifact,
        ]
    }
}

/// Turns authenticated bytes back into a component.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be native code
    // that this engine's compiler produced. The caller verified the
    // artifact's HMAC under this cache's private key, which only
    // `CompileCache::put` uses, on bytes from `Component::serialize`; and
    // wasmtime itself rejects artifacts of another version or configuration.
    unsafe { Component::deserialize(engine, artifact) }
}

/// A short, stable name for everything about `engine` that changes the code
/// it generates.
fn engine_id(engine: &Engine) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    hex::encode(&digest[..12])
}

type HmacSha256 = Hmac<Sha256>;

/// The HMAC-SHA256 state under `key`, fed with `parts`, each preceded by its
/// length so that no two different lists of parts collide.
fn hmac_of(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length (longer ones are hashed first), so this
    // never fails.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    for part in parts {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part);
    }
    mac
}

/// HMAC-SHA256 of `parts` (see [`hmac_of`]).
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; MAC_LEN] {
    hmac_of(key, parts).finalize().into_bytes().into()
}

/// Whether `mac` is the HMAC-SHA256 of `parts` under `key`, compared in
/// constant time.
fn hmac_matches(key: &[u8], parts: &[&[u8]], mac: &[u8]) -> bool {
    hmac_of(key, parts).verify_slice(mac).is_ok()
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Refuses `path` unless it belongs to the current user and has none of the
/// permission bits in `forbidden` (Unix; elsewhere the platform's ACLs
/// decide).
fn check_private(path: &Path, forbidden: u32) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta =
            fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(format!(
                "{} belongs to another user (uid {}); point --cache-dir at a directory of your own",
                path.display(),
                meta.uid()
            ));
        }
        if meta.mode() & forbidden != 0 {
            return Err(format!(
                "{} can be {} by other users (mode {:o}); run `chmod go-rwx {}`",
                path.display(),
                if forbidden & 0o044 != 0 {
                    "read"
                } else {
                    "written"
                },
                meta.mode() & 0o777,
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, forbidden);
    Ok(())
}

/// Reads the cache's key, creating it on first use. Two runners creating it
/// at once agree: the key is written to a temporary file and linked into
/// place, which fails for the second, who then reads the first's.
fn read_or_create_key(dir: &Path) -> Result<[u8; 32], String> {
    let path = dir.join(KEY_FILE);
    let read = |path: &Path| -> Result<[u8; 32], String> {
        check_private(path, 0o077)?;
        let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        bytes.try_into().map_err(|_| {
            format!(
                "{} is not a cache key; delete the cache directory to start afresh",
                path.display()
            )
        })
    };
    if path.exists() {
        return read(&path);
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("cannot draw a random key: {e}"))?;
    let write = || -> io::Result<()> {
        let mut temp = tempfile::Builder::new().prefix(".key-").tempfile_in(dir)?;
        temp.write_all(&key)?;
        temp.as_file().sync_all()?;
        // Owner-only: tempfile creates its files with mode 0600.
        temp.persist_noclobber(&path).map_err(|e| e.error)?;
        Ok(())
    };
    match write() {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(format!("cannot write {}: {e}", path.display())),
    }
}

/// The key of the cache in `dir` (created, private, on first use), for
/// other files the cache signs.
pub(crate) fn signing_key(dir: &Path) -> Result<[u8; 32], String> {
    create_private_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    check_private(dir, 0o022)?;
    read_or_create_key(dir)
}

/// HMAC-SHA256 of `message` under `key`.
pub(crate) fn sign(key: &[u8], message: &[u8]) -> [u8; MAC_LEN] {
    hmac_sha256(key, &[message])
}

/// Whether `mac` is the MAC of `message` under `key` (in constant time).
pub(crate) fn verify(key: &[u8], message: &[u8], mac: &[u8]) -> bool {
    hmac_matches(key, &[message], mac)
}

/// Where the cache lives unless configured: `$XDG_CACHE_HOME/wasmig`, else
/// `~/.cache/wasmig` (`%LOCALAPPDATA%\wasmig` on Windows).
pub fn default_cache_dir() -> Option<PathBuf> {
    let from = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(windows) {
        return from("LOCALAPPDATA").map(|d| d.join("wasmig"));
    }
    from("XDG_CACHE_HOME")
        .or_else(|| from("HOME").map(|h| h.join(".cache")))
        .map(|d| d.join("wasmig"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MAC of the parts `ab`, `c` under the key `[7; 32]`, as entries
    /// written by every earlier wasmig carry it.
    const KNOWN_FRAMED_MAC: &str =
        "cb26cbd8f92f96666adb85ea48780f04962ec8ae8998cd24c8bfb1721f19bb3c";

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = |key: &[u8], data: &[u8]| {
            let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap();
            mac.update(data);
            hex::encode(mac.finalize().into_bytes())
        };
        // Test case 2: a short key.
        assert_eq!(
            mac(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block, hashed first.
        assert_eq!(
            mac(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn the_signed_bytes_are_each_part_after_its_length() {
        // Entries written before keep verifying: the MAC is over the same
        // framing, length (u64, little-endian) then bytes, part by part.
        let key = [7u8; 32];
        let mut framed = Vec::new();
        for part in [&b"ab"[..], b"c"] {
            framed.extend_from_slice(&(part.len() as u64).to_le_bytes());
            framed.extend_from_slice(part);
        }
        let mut plain = <HmacSha256 as KeyInit>::new_from_slice(&key).unwrap();
        plain.update(&framed);
        let expected: [u8; MAC_LEN] = plain.finalize().into_bytes().into();
        assert_eq!(hmac_sha256(&key, &[b"ab", b"c"]), expected);
        assert_eq!(
            hex::encode(hmac_sha256(&key, &[b"ab", b"c"])),
            KNOWN_FRAMED_MAC
        );
    }

    #[test]
    fn the_mac_depends_on_every_part_and_on_where_parts_split() {
        let key = [7u8; 32];
        let base = hmac_sha256(&key, &[b"ab", b"c"]);
        assert_ne!(base, hmac_sha256(&key, &[b"a", b"bc"]));
        assert_ne!(base, hmac_sha256(&key, &[b"ab", b"d"]));
        assert_ne!(base, hmac_sha256(&[8u8; 32], &[b"ab", b"c"]));
        assert_eq!(base, hmac_sha256(&key, &[b"ab", b"c"]));
    }

    #[test]
    fn verification_takes_the_whole_mac_only() {
        let key = [7u8; 32];
        let mac = sign(&key, b"body");
        assert!(verify(&key, b"body", &mac));
        assert!(!verify(&key, b"bodY", &mac));
        assert!(!verify(&key, b"body", &mac[..31]));
        assert!(!verify(&[8u8; 32], b"body", &mac));
    }
}

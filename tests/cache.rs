//! The compile cache: a component is compiled once per machine; an entry
//! that is corrupt or was not written by this cache is never loaded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::{Project, Run};

const TABLES: &str = "\
CREATE TABLE acme_items (id INTEGER PRIMARY KEY, label TEXT);
INSERT INTO acme_items (id, label) VALUES (1, 'first'), (2, 'second');
CREATE TABLE acme_stats (region TEXT NOT NULL, items INTEGER NOT NULL);
CREATE TABLE big (id INTEGER PRIMARY KEY, label TEXT NOT NULL);
";

/// A fresh project with two component migrations.
fn project() -> Project {
    let p = Project::new();
    p.config("[env.dev]\nvars = { region = \"eu\", rows = \"10\" }\n");
    p.sql("1_tables", TABLES, None);
    p.component("2_acme_plugin", "acme_plugin");
    p.component("3_slow_fill", "slow_fill");
    p
}

/// `up` with the compile cache in `cache`.
fn up(p: &Project, cache: &Path) -> Run {
    p.wasmig(&["--cache-dir", cache.to_str().unwrap(), "up"])
        .ok()
}

/// The cache's entries (everything but its key).
fn entries(cache: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for engine in fs::read_dir(cache).unwrap() {
        let engine = engine.unwrap().path();
        if engine.is_dir() && !engine.ends_with("checksums") {
            for entry in fs::read_dir(&engine).unwrap() {
                found.push(entry.unwrap().path());
            }
        }
    }
    found.sort();
    found
}

/// Each entry's bytes and modification time.
fn snapshot(entries: &[PathBuf]) -> Vec<(Vec<u8>, std::time::SystemTime)> {
    entries
        .iter()
        .map(|e| {
            (
                fs::read(e).unwrap(),
                fs::metadata(e).unwrap().modified().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_second_up_of_the_same_components_compiles_nothing() {
    let cache = tempfile::tempdir().unwrap();
    let first = project();
    up(&first, cache.path()).says(&["components: 2 compiled, 0 from the cache"]);
    let stored = entries(cache.path());
    assert_eq!(stored.len(), 2, "{stored:?}");
    let written = snapshot(&stored);

    // The same components against another, fresh database.
    let second = project();
    up(&second, cache.path()).says(&["components: 0 compiled, 2 from the cache"]);
    assert_eq!(second.column("SELECT count(*) FROM big"), ["10"]);
    assert_eq!(second.column("SELECT region FROM acme_stats"), ["eu"]);
    // Loaded, not rewritten.
    assert_eq!(snapshot(&stored), written);

    // Without the cache, everything is compiled again.
    let third = project();
    third
        .wasmig(&["--no-cache", "up"])
        .ok()
        .says(&["components: 2 compiled, 0 from the cache"]);
}

#[test]
fn a_corrupted_entry_is_ignored_and_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    up(&project(), cache.path());
    for entry in entries(cache.path()) {
        let mut bytes = fs::read(&entry).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        fs::write(&entry, bytes).unwrap();
    }
    let p = project();
    up(&p, cache.path()).says(&[
        "ignored the cache entry",
        "does not carry this cache's signature",
        "components: 2 compiled, 0 from the cache",
    ]);
    assert_eq!(p.column("SELECT count(*) FROM big"), ["10"]);
    // Rebuilt: the next run loads it.
    up(&project(), cache.path()).says(&["components: 0 compiled, 2 from the cache"]);
}

#[test]
fn a_truncated_entry_is_ignored_and_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    up(&project(), cache.path());
    for entry in entries(cache.path()) {
        let bytes = fs::read(&entry).unwrap();
        fs::write(&entry, &bytes[..20]).unwrap();
    }
    up(&project(), cache.path()).says(&[
        "ignored the cache entry",
        "components: 2 compiled, 0 from the cache",
    ]);
}

#[test]
fn an_entry_written_by_another_cache_is_never_loaded() {
    // Cache `theirs` compiles the components; its entries are valid
    // artifacts for this very engine, copied into `ours`, which has a key
    // of its own.
    let theirs = tempfile::tempdir().unwrap();
    let ours = tempfile::tempdir().unwrap();
    up(&project(), theirs.path());
    // `ours` gets its key, and an entry of its own, from a run of one
    // component.
    let warm = Project::new();
    warm.config("[env.dev]\nvars = { region = \"eu\" }\n");
    warm.sql("1_tables", TABLES, None);
    warm.component("2_acme_plugin", "acme_plugin");
    up(&warm, ours.path()).says(&["components: 1 compiled, 0 from the cache"]);
    let p = project();
    for entry in entries(theirs.path()) {
        let relative = entry.strip_prefix(theirs.path()).unwrap();
        fs::copy(&entry, ours.path().join(relative)).unwrap();
    }
    up(&p, ours.path()).says(&[
        "does not carry this cache's signature",
        "components: 2 compiled, 0 from the cache",
    ]);
    assert_eq!(p.column("SELECT count(*) FROM big"), ["10"]);
}

#[test]
fn a_cache_directory_others_can_write_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let cache = tempfile::tempdir().unwrap();
    fs::set_permissions(cache.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let p = project();
    up(&p, cache.path()).says(&[
        "cannot be used",
        "can be written by other users",
        "chmod go-rwx",
        "components: 2 compiled, 0 from the cache",
    ]);
    assert!(entries(cache.path()).is_empty());
    assert_eq!(p.column("SELECT count(*) FROM big"), ["10"]);
}

#[test]
fn status_and_validate_compile_nothing() {
    let cache = tempfile::tempdir().unwrap();
    let p = project();
    let dir = cache.path().to_str().unwrap();
    p.wasmig(&["--cache-dir", dir, "status"]).ok();
    p.wasmig(&["--cache-dir", dir, "validate"]).ok();
    assert!(entries(cache.path()).is_empty());
}

/// HMAC-SHA256, as the cache signs its files (RFC 2104).
fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    // The cache prefixes its one part with the part's length.
    inner.update((message.len() as u64).to_le_bytes());
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

#[test]
fn status_reads_remembered_checksums_and_still_sees_every_edit() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_str().unwrap();
    let p = Project::new();
    p.sql("1_a", "CREATE TABLE a (id INTEGER);", None);
    p.sql("2_b", "CREATE TABLE b (id INTEGER);", None);
    p.wasmig(&["--cache-dir", dir, "up"]).ok();
    // Files are remembered once they are older than the clock's resolution
    // can blur.
    std::thread::sleep(std::time::Duration::from_millis(2_200));
    let status = |p: &Project| -> Vec<String> {
        let run = p
            .wasmig(&["--cache-dir", dir, "status", "--format", "json"])
            .ok();
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        doc["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["status"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(status(&p), ["applied", "applied"]);
    let checksums: Vec<PathBuf> = fs::read_dir(cache.path().join("checksums"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(checksums.len(), 1, "{checksums:?}");
    let file = &checksums[0];
    let text = fs::read_to_string(file).unwrap();
    assert!(
        text.contains("1_a.sql") && text.contains("2_b.sql"),
        "{text}"
    );

    // The remembered checksum is what status uses: a correctly signed entry
    // with another checksum makes the unchanged file look edited.
    let key = fs::read(cache.path().join("key")).unwrap();
    let (_, body) = text.split_once('\n').unwrap();
    let real = sha256_of(&fs::read(p.migrations.join("1_a.sql")).unwrap());
    let forged_body = body.replace(&real, &"0".repeat(64));
    assert_ne!(forged_body, body);
    let signed = |body: &str| {
        format!(
            "wasmig-checksums 1 {}\n{body}",
            hex::encode(hmac(&key, body.as_bytes()))
        )
    };
    fs::write(file, signed(&forged_body)).unwrap();
    assert_eq!(status(&p), ["changed", "applied"]);

    // An unsigned (or foreign) file is ignored.
    fs::write(file, format!("wasmig-checksums 1 00\n{forged_body}")).unwrap();
    assert_eq!(status(&p), ["applied", "applied"]);

    // An edit of the same size, right away, is seen.
    fs::write(file, signed(body)).unwrap();
    fs::write(p.migrations.join("1_a.sql"), "CREATE TABLE z (id INTEGER);").unwrap();
    assert_eq!(status(&p), ["changed", "applied"]);
}

fn sha256_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

//! Where a built component lives (the one file name the migrations
//! directory reader and the crate builder agree on), and the digest of the
//! sources it was built from, which it carries in a custom section.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmparser::{Parser, Payload};

/// The component file a crate's build produces, inside the crate directory.
pub const ARTIFACT: &str = "migration.wasm";

/// The component file a crate's build produces, inside the crate directory.
pub fn artifact_path(crate_dir: &Path) -> PathBuf {
    crate_dir.join(ARTIFACT)
}

/// The custom section that records which sources a `migration.wasm` was
/// built from.
pub(crate) const SOURCE_SECTION: &str = "wasmig-source-digest";

/// The source digest recorded in a built component.
pub fn embedded_digest(component: &[u8]) -> Option<String> {
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(component) {
        match payload.ok()? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(section) if depth == 0 && section.name() == SOURCE_SECTION => {
                return std::str::from_utf8(section.data()).ok().map(str::to_owned);
            }
            _ => {}
        }
    }
    None
}

/// Appends a custom section (id 0) to a component binary.
pub(crate) fn append_custom_section(component: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut body = Vec::new();
    leb128(&mut body, name.len() as u64);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    component.push(0);
    leb128(component, body.len() as u64);
    component.extend_from_slice(&body);
}

fn leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Adds one file to a digest of sources: its name and its bytes, each
/// length-prefixed, so no two different sets of files hash alike. Rust
/// crates and the Python runtime stamp their builds with such digests.
pub(crate) fn digest_file(hasher: &mut Sha256, name: &str, bytes: &[u8]) {
    hasher.update((name.len() as u64).to_le_bytes());
    hasher.update(name.as_bytes());
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

//! Where a Rust guest crate's built component lives: the one file name the
//! migrations directory reader and the crate builder agree on.

use std::path::{Path, PathBuf};

/// The component file a crate's build produces, inside the crate directory.
pub const ARTIFACT: &str = "migration.wasm";

/// The component file a crate's build produces, inside the crate directory.
pub fn artifact_path(crate_dir: &Path) -> PathBuf {
    crate_dir.join(ARTIFACT)
}

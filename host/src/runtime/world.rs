//! Checking, without compiling it, that a component is a wasmig migration.

use wasmparser::{Parser, Payload};

/// The package version of the contract this host implements.
pub const CONTRACT_VERSION: &str = "0.1.1";

/// A component's top-level imports and exports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentShape {
    /// Import names, e.g. `wasmig:migration/db@0.1.0`.
    pub imports: Vec<String>,
    /// Export names, e.g. `up`.
    pub exports: Vec<String>,
    /// Whether the component asks to run outside a transaction (a custom
    /// section named [`NO_TRANSACTION_SECTION`] anywhere in it, which
    /// `export_migration!(T, no_transaction)` emits).
    pub no_transaction: bool,
}

/// The custom section by which a component opts out of the wrapping
/// transaction.
pub const NO_TRANSACTION_SECTION: &str = "wasmig-no-transaction";

/// Reads the top-level imports and exports of a component.
///
/// # Errors
/// Returns what to tell the user when `bytes` are not a component.
pub fn shape(bytes: &[u8]) -> Result<ComponentShape, String> {
    if !bytes.starts_with(b"\0asm") {
        return Err(
            "not a WebAssembly file (it does not start with the `\\0asm` magic); \
                    rebuild it with `cargo build --target wasm32-wasip2 --release`"
                .into(),
        );
    }
    if !Parser::is_component(bytes) {
        return Err(
            "a core WebAssembly module, not a component: build migrations for the \
                    wasm32-wasip2 target, whose output is a component"
                .into(),
        );
    }
    let mut shape = ComponentShape::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("not a valid component: {e}"))?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| format!("not a valid component: {e}"))?;
                    shape.imports.push(import.name.name.to_owned());
                }
            }
            Payload::CustomSection(section) if section.name() == NO_TRANSACTION_SECTION => {
                shape.no_transaction = true;
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| format!("not a valid component: {e}"))?;
                    shape.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// Checks that a component targets the `wasmig:migration` world this host
/// implements.
///
/// # Errors
/// Returns what is wrong and what to do.
pub fn check(shape: &ComponentShape) -> Result<(), String> {
    let missing: Vec<&str> = ["up", "down"]
        .into_iter()
        .filter(|name| !shape.exports.iter().any(|e| e == name))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "it does not export {}: it was built against another world (it exports: {}); a \
             migration implements the `wasmig:migration/migration@{CONTRACT_VERSION}` world, \
             e.g. with the wasmig-guest crate",
            missing.join(" and "),
            list_or_nothing(&shape.exports)
        ));
    }
    for import in &shape.imports {
        if let Some(rest) = import.strip_prefix("wasmig:migration/") {
            let version = rest.split_once('@').map(|(_, v)| v).unwrap_or("");
            if !compatible(version) {
                return Err(format!(
                    "it imports `{import}`, but this wasmig implements \
                     wasmig:migration@{CONTRACT_VERSION}; upgrade wasmig, or rebuild the \
                     migration against a wasmig-guest release for {CONTRACT_VERSION}"
                ));
            }
        } else if !import.starts_with("wasi:") && !import.starts_with("wasmig:python/") {
            return Err(format!(
                "it imports `{import}`, which a migration cannot use: the sandbox provides \
                 only wasmig:migration/{{db,env,schema,types}} and WASI's basics"
            ));
        }
    }
    Ok(())
}

/// Whether a guest built against `version` runs on this host: the same
/// major and minor (while the major is 0), and a patch this host has
/// reached (each patch only adds to the contract).
fn compatible(version: &str) -> bool {
    let parts = |v: &str| -> Option<(u64, u64, u64)> {
        let mut it = v.split('.').map(|p| p.parse::<u64>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    };
    match (parts(CONTRACT_VERSION), parts(version)) {
        (Some(ours), Some(theirs)) => {
            ours.0 == theirs.0 && ours.1 == theirs.1 && theirs.2 <= ours.2
        }
        _ => false,
    }
}

fn list_or_nothing(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(imports: &[&str], exports: &[&str]) -> ComponentShape {
        ComponentShape {
            imports: imports.iter().map(|s| s.to_string()).collect(),
            exports: exports.iter().map(|s| s.to_string()).collect(),
            no_transaction: false,
        }
    }

    #[test]
    fn a_migration_passes() {
        let s = shape_of(
            &["wasmig:migration/db@0.1.0", "wasi:cli/stdout@0.2.3"],
            &["up", "down"],
        );
        assert_eq!(check(&s), Ok(()));
    }

    #[test]
    fn a_command_component_is_refused_for_its_exports() {
        let s = shape_of(&["wasi:cli/stdout@0.2.3"], &["wasi:cli/run@0.2.3"]);
        let err = check(&s).unwrap_err();
        assert!(err.contains("does not export up and down"), "{err}");
        assert!(err.contains("wasi:cli/run@0.2.3"), "{err}");
    }

    #[test]
    fn a_newer_contract_is_refused() {
        for newer in ["0.2.0", "0.1.2", "1.1.0"] {
            let s = shape_of(&[&format!("wasmig:migration/db@{newer}")], &["up", "down"]);
            assert!(check(&s).unwrap_err().contains("upgrade wasmig"), "{newer}");
        }
    }

    #[test]
    fn every_earlier_patch_of_the_contract_is_accepted() {
        for older in ["0.1.0", "0.1.1"] {
            let s = shape_of(
                &[&format!("wasmig:migration/schema@{older}")],
                &["up", "down"],
            );
            assert_eq!(check(&s), Ok(()), "{older}");
        }
    }

    #[test]
    fn foreign_imports_are_refused() {
        let s = shape_of(&["acme:net/http@1.0.0"], &["up", "down"]);
        assert!(check(&s).unwrap_err().contains("acme:net/http"));
    }

    #[test]
    fn non_wasm_and_core_modules_are_named() {
        assert!(
            shape(b"hello")
                .unwrap_err()
                .contains("not a WebAssembly file")
        );
        let core = b"\0asm\x01\0\0\0";
        assert!(shape(core).unwrap_err().contains("core WebAssembly module"));
    }
}

//! The one import the Python runtime has beyond the migration world: the
//! migration's files (see [`crate::python`]).

use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker};

use super::host::GuestState;

/// The interface the Python runtime imports.
const SOURCE: &str = "wasmig:python/source@0.1.0";

/// Defines `wasmig:python/source` in `linker`. A component that does not
/// import it (every other migration) never sees it.
pub(super) fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    let mut source = linker.instance(SOURCE)?;
    source.func_wrap(
        "files",
        |store: wasmtime::StoreContextMut<'_, GuestState>,
         (): ()|
         -> wasmtime::Result<(Vec<(String, String)>,)> {
            let files = store
                .data()
                .python
                .as_ref()
                .map_or_else(Vec::new, |sources| {
                    sources
                        .files
                        .iter()
                        .map(|(path, text)| (path.clone(), text.clone()))
                        .collect()
                });
            Ok((files,))
        },
    )?;
    source.func_wrap(
        "origin",
        |store: wasmtime::StoreContextMut<'_, GuestState>, (): ()| -> wasmtime::Result<(String,)> {
            let origin = store
                .data()
                .python
                .as_ref()
                .map_or_else(String::new, |sources| sources.origin.clone());
            Ok((origin,))
        },
    )?;
    Ok(())
}

/// Instantiates the runtime and calls its `check` export.
pub(super) async fn call_check(
    pre: &InstancePre<GuestState>,
    store: &mut Store<GuestState>,
) -> wasmtime::Result<Result<(), String>> {
    let instance = pre.instantiate_async(&mut *store).await?;
    let check = instance.get_typed_func::<(), (Result<(), String>,)>(&mut *store, "check")?;
    let (result,) = check.call_async(&mut *store, ()).await?;
    Ok(result)
}

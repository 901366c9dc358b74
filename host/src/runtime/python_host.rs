//! The one import the Python runtime has beyond the migration world: the
//! migration's files (see [`crate::python`]).

use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker};

use super::bindings::wasmig::migration::{db, types};
use super::host::GuestState;

/// The interfaces the Python runtime imports.
const SOURCE: &str = "wasmig:python/source@0.1.0";
const PACKED: &str = "wasmig:python/packed@0.1.0";

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
    let mut packed = linker.instance(PACKED)?;
    packed.func_wrap_async(
        "query",
        |mut store: wasmtime::StoreContextMut<'_, GuestState>, (sql, params): (String, String)| {
            Box::new(async move {
                let params = match super::packed::decode_sets(&format!("[{params}]")) {
                    Ok(mut sets) => sets.pop().unwrap_or_default(),
                    Err(message) => return Ok((Err(bad_parameters(message)),)),
                };
                let result = db::Host::query(store.data_mut(), sql, params).await?;
                Ok((result.map(|rows| super::packed::encode_rows(&rows)),))
            })
        },
    )?;
    packed.func_wrap_async(
        "execute-batch",
        |mut store: wasmtime::StoreContextMut<'_, GuestState>, (sql, sets): (String, String)| {
            Box::new(async move {
                let sets = match super::packed::decode_sets(&sets) {
                    Ok(sets) => sets,
                    Err(message) => return Ok((Err(bad_parameters(message)),)),
                };
                let result = db::Host::execute_batch(store.data_mut(), sql, sets).await?;
                Ok((result,))
            })
        },
    )?;
    Ok(())
}

/// The error for packed parameters the host cannot read.
fn bad_parameters(message: String) -> types::DbError {
    types::DbError {
        kind: types::ErrorKind::Other,
        code: None,
        message,
    }
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

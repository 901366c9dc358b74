//! Enforcing [`Limits`] inside a component run: memory and table growth,
//! and the error a limit's trap carries.

use crate::limits::Limits;

/// A limit a component ran into, carried inside the trap it caused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LimitExceeded(pub String);

/// Enforces [`Limits`] on memory and tables; records which limit stopped the
/// guest so the error can name it.
pub(crate) struct Limiter {
    memory_bytes: usize,
    instances: usize,
    table_elements: usize,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            memory_bytes: usize::try_from(limits.memory_mb.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            instances: limits.instances,
            table_elements: limits.table_elements,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(wasmtime::Error::new(LimitExceeded(format!(
                "the memory limit of {} MiB was reached (set `memory_mb` under [limits] in \
                 wasmig.toml to raise it)",
                self.memory_bytes >> 20
            ))));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(wasmtime::Error::new(LimitExceeded(format!(
                "the table limit of {} elements was reached (set `table_elements` under \
                 [limits] in wasmig.toml to raise it)",
                self.table_elements
            ))));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}

//! Migration versions: the number a migration's name starts with, which
//! orders migrations and keys the ledger.

/// A migration's version: the number its file name starts with.
pub type Version = i64;

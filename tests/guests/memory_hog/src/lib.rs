//! Allocates until something stops it.

use wasmig_guest::{Db, Env, Migration, Result, export_migration};

struct MemoryHog;

impl Migration for MemoryHog {
    fn up(db: &Db, _env: &Env) -> Result<()> {
        db.execute(
            "INSERT INTO notes (id, body) VALUES (104, 'written by memory_hog')",
            &[],
        )?;
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![7u8; 16 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

export_migration!(MemoryHog);

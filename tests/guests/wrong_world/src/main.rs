//! An ordinary WASI command, not a migration: wasmig must refuse it.

fn main() {
    println!("I am a command, not a migration");
}

//! Puts the SDK's linker scripts on the linker's search path, so that a guest links with
//! `-C link-arg=-Tzkbox-guest.x` (scripts/build-guests.sh passes it in RUSTFLAGS).
//!
//! Two scripts are shipped: `zkbox-guest.x`, the zkbox memory layout every guest is built with,
//! and `zkbox-guest-qemu.x`, a reference layout for running a guest under `qemu-riscv32` (Linux
//! user mode maps only what the ELF loads, so that script reserves the heap and the stack inside
//! `.bss`). Only the first one is ever given to the prover.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for script in ["zkbox-guest.x", "zkbox-guest-qemu.x"] {
        println!("cargo:rerun-if-changed={script}");
        fs::copy(script, out.join(script)).expect("copy linker script to OUT_DIR");
    }
    println!("cargo:rustc-link-search={}", out.display());
}

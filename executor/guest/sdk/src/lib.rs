//! The zkbox guest SDK: what a Rust program needs to run as a zkbox guest on RV32IM.
//!
//! A guest is a `#![no_std]`, `#![no_main]` binary that names its entry function with
//! [`entry!`]. The SDK supplies everything else:
//!
//! - the `_start` routine (sets the stack pointer to `0x7800_0000` and `gp`, calls the entry
//!   function, then exits with code 0 when it returns);
//! - a global bump allocator over the heap between the end of the program (`_end`) and
//!   `0x7000_0000`, so `alloc` (`Vec`, `String`, `Box`, ...) works; running out of heap panics;
//! - the private input ([`read`], [`read_fill`], [`read_to_end`]), the public output committed by
//!   the proof ([`commit`]), the debug log that is not committed ([`log`], [`log_bytes`],
//!   [`logln!`]) and [`exit`];
//! - cycle markers for profiling ([`cycle_marker!`]), which the emulator records with their
//!   cycle instead of logging them;
//! - a panic handler that writes `panicked at FILE:LINE:COLUMN:` and the message to the debug
//!   log and exits with code [`PANIC_EXIT_CODE`] (101).
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! zkbox_guest::entry!(main);
//!
//! fn main() {
//!     let input = zkbox_guest::read_to_end();
//!     zkbox_guest::logln!("read {} bytes", input.len());
//!     zkbox_guest::commit(&(input.len() as u32).to_le_bytes());
//! }
//! ```
//!
//! The system calls underneath are in [`abi`]; the memory layout and the ABI are described in
//! the guest workspace's README.md.
#![no_std]

extern crate alloc;

pub mod abi;
mod heap;
mod io;
mod rt;

pub use heap::BumpAllocator;
pub use io::{DebugLog, commit, exit, log, log_bytes, read, read_fill, read_to_end};
pub use rt::PANIC_EXIT_CODE;

/// Declares the guest's entry function: `zkbox_guest::entry!(main);` where `main` is a
/// `fn()`. The SDK's `_start` calls it once with the stack set up; when it returns the guest
/// exits with code 0. To exit with another code call [`exit`]; a panic exits with 101.
#[macro_export]
macro_rules! entry {
    ($path:path) => {
        /// The guest's entry point, called by the SDK's `_start`.
        #[unsafe(no_mangle)]
        extern "C" fn __zkbox_main() {
            let main: fn() = $path;
            main()
        }
    };
}

/// Writes a formatted line (a trailing `\n` is added) to the debug log, like `println!`.
/// Formatting does not allocate; the line is written in chunks of at most 256 bytes.
#[macro_export]
macro_rules! logln {
    () => {
        $crate::log("\n")
    };
    ($($arg:tt)*) => {{
        use ::core::fmt::Write as _;
        let mut log = $crate::DebugLog::new();
        let _ = ::core::writeln!(log, $($arg)*);
        log.flush();
    }};
}

/// Marks the start of a phase for cycle accounting: `cycle_marker!("recovery")` writes the
/// line `cycle-marker: recovery\n` to the debug log in one `write` call. The zkbox emulator
/// records such a line with the cycle of its `ecall` instead of logging it
/// (`zkbox_executor::markers`) and charges the cycles from one marker to the next to the first
/// one's tag. The tag is a string literal (no control characters, at most 64 bytes); a
/// marker costs a few cycles and is an ordinary debug write to the ABI, the trace and qemu.
#[macro_export]
macro_rules! cycle_marker {
    ($tag:literal) => {
        $crate::log(::core::concat!("cycle-marker: ", $tag, "\n"))
    };
}

//! The run-time pieces every guest gets: `_start` and the panic handler.

use core::cell::Cell;
use core::fmt::Write as _;
use core::panic::PanicInfo;

use crate::io::{DebugLog, exit};

/// The exit code of a guest that panicked (or ran out of heap), as with Rust's `std`.
pub const PANIC_EXIT_CODE: i32 = 101;

// `_start`: the ELF entry point. Registers are all zero and memory is zero except what the
// ELF loads, so nothing is cleared: set gp (for linker relaxation) and sp, call the guest's
// entry function (`__zkbox_main`, defined by `entry!`), then exit with code 0.
#[cfg(target_arch = "riscv32")]
core::arch::global_asm!(
    ".pushsection .text._start, \"ax\", @progbits",
    ".globl _start",
    ".type _start, @function",
    "_start:",
    ".option push",
    ".option norelax",
    "    lui gp, %hi(__global_pointer$)",
    "    addi gp, gp, %lo(__global_pointer$)",
    ".option pop",
    "    lui sp, %hi(__zkbox_stack_top)",
    "    addi sp, sp, %lo(__zkbox_stack_top)",
    "    call __zkbox_main",
    "    li a0, 0",
    "    li a7, 93",
    "    ecall",
    "    unimp",
    ".size _start, . - _start",
    ".popsection",
);

/// Set while the panic handler runs, so a panic while formatting a panic message exits at once.
struct Panicking(Cell<bool>);

// SAFETY: guests are single-threaded.
unsafe impl Sync for Panicking {}

static PANICKING: Panicking = Panicking(Cell::new(false));

/// Writes `panicked at FILE:LINE:COLUMN:\nMESSAGE\n` to the debug log and exits with 101.
#[cfg(target_arch = "riscv32")]
#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    report_panic(info)
}

#[cfg_attr(not(target_arch = "riscv32"), allow(dead_code))]
fn report_panic(info: &PanicInfo) -> ! {
    if PANICKING.0.replace(true) {
        exit(PANIC_EXIT_CODE);
    }
    let mut log = DebugLog::new();
    let _ = match info.location() {
        Some(location) => writeln!(log, "panicked at {location}:"),
        None => writeln!(log, "panicked:"),
    };
    let _ = writeln!(log, "{}", info.message());
    log.flush();
    exit(PANIC_EXIT_CODE)
}

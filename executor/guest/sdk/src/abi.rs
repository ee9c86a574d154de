//! The raw zkbox system calls (`ecall`, selected by `a7`).
//!
//! | a7 | call  | arguments                                          | returns (a0)    |
//! |----|-------|----------------------------------------------------|-----------------|
//! | 93 | exit  | a0 = exit code                                     | does not return |
//! | 63 | read  | a0 = 0 (private input), a1 = buffer, a2 = length   | bytes read, 0 at the end |
//! | 64 | write | a0 = 1 (public output) or 2 (debug log), a1, a2    | a2              |
//! | 0x100 | field256 | a0 = operation, a1 = z, a2 = x, a3 = y          | none (registers kept) |
//!
//! field256 is 256-bit arithmetic modulo secp256k1's p and n (docs/guest-abi.md); its
//! wrapper and the sender recovery built on it live in `zkbox_evm::secp256k1`.
//!
//! The numbers and argument order of exit, read and write are Linux's, so `qemu-riscv32` runs
//! simple guests too (fd 0 is its stdin, fd 1 its stdout, fd 2 its stderr); field256 is
//! zkbox's own, so a guest that uses it runs only in zkbox. Prefer the safe wrappers at the crate root.

/// `a7` for exit: `a0` is the exit code.
pub const SYS_EXIT: u32 = 93;
/// `a7` for read: `a0` is the file descriptor (only [`FD_INPUT`]), `a1` the buffer, `a2` its
/// length.
pub const SYS_READ: u32 = 63;
/// `a7` for write: `a0` is [`FD_PUBLIC_OUTPUT`] or [`FD_DEBUG_LOG`], `a1` the buffer, `a2` its
/// length.
pub const SYS_WRITE: u32 = 64;

/// The private input, readable with [`SYS_READ`]; the prover does not reveal it.
pub const FD_INPUT: u32 = 0;
/// The public output: bytes written here are committed by the proof.
pub const FD_PUBLIC_OUTPUT: u32 = 1;
/// The debug log: bytes written here are shown to the person running the guest, never committed.
pub const FD_DEBUG_LOG: u32 = 2;

/// Ends execution with `code` (a0 = code, a7 = 93).
pub fn sys_exit(code: u32) -> ! {
    #[cfg(target_arch = "riscv32")]
    // SAFETY: the exit call takes no memory and never returns; the `unimp` after it makes an
    // emulator that wrongly continues stop with an illegal-instruction error.
    unsafe {
        core::arch::asm!(
            "ecall",
            "unimp",
            in("a7") SYS_EXIT,
            in("a0") code,
            options(noreturn, nostack),
        );
    }
    #[cfg(not(target_arch = "riscv32"))]
    {
        let _ = code;
        unreachable!("zkbox guests run on RV32IM only")
    }
}

/// Reads at most `len` bytes of file descriptor `fd` into `buf`; returns the number read
/// (0 at the end of the input).
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes.
pub unsafe fn sys_read(fd: u32, buf: *mut u8, len: usize) -> usize {
    #[cfg(target_arch = "riscv32")]
    {
        let ret: u32;
        // SAFETY: the caller guarantees `buf` is writable for `len` bytes; the call writes
        // only there.
        unsafe {
            core::arch::asm!(
                "ecall",
                in("a7") SYS_READ,
                inlateout("a0") fd => ret,
                in("a1") buf,
                in("a2") len,
                options(nostack),
            );
        }
        ret as usize
    }
    #[cfg(not(target_arch = "riscv32"))]
    {
        let _ = (fd, buf, len);
        unreachable!("zkbox guests run on RV32IM only")
    }
}

/// Writes `len` bytes at `buf` to file descriptor `fd`; returns what the call returned in
/// `a0` (the zkbox emulator returns `len`).
///
/// # Safety
///
/// `buf` must be valid for reads of `len` bytes.
pub unsafe fn sys_write(fd: u32, buf: *const u8, len: usize) -> usize {
    #[cfg(target_arch = "riscv32")]
    {
        let ret: u32;
        // SAFETY: the caller guarantees `buf` is readable for `len` bytes; the call only
        // reads there.
        unsafe {
            core::arch::asm!(
                "ecall",
                in("a7") SYS_WRITE,
                inlateout("a0") fd => ret,
                in("a1") buf,
                in("a2") len,
                options(nostack, readonly),
            );
        }
        ret as usize
    }
    #[cfg(not(target_arch = "riscv32"))]
    {
        let _ = (fd, buf, len);
        unreachable!("zkbox guests run on RV32IM only")
    }
}

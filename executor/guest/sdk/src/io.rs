//! Safe wrappers over the system calls: private input, public output, debug log, exit.

use alloc::vec::Vec;
use core::fmt;

use crate::abi;

/// Reads the next bytes of the private input into `buf`; returns how many were read, 0 once
/// the input is exhausted (or when `buf` is empty). It may read fewer than `buf.len()` bytes
/// even when more input remains: use [`read_fill`] to fill a buffer.
pub fn read(buf: &mut [u8]) -> usize {
    if buf.is_empty() {
        return 0;
    }
    // SAFETY: `buf` is a live, writable slice of `buf.len()` bytes.
    let n = unsafe { abi::sys_read(abi::FD_INPUT, buf.as_mut_ptr(), buf.len()) };
    // A host that returns more than asked for, or an error code, is treated as the end.
    if n > buf.len() { 0 } else { n }
}

/// Reads the private input until `buf` is full or the input ends; returns the number of
/// bytes read (less than `buf.len()` only at the end of the input).
pub fn read_fill(buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        let n = read(&mut buf[filled..]);
        if n == 0 {
            break;
        }
        filled += n;
    }
    filled
}

/// Reads the rest of the private input into a vector.
pub fn read_to_end() -> Vec<u8> {
    const CHUNK: usize = 4096;
    let mut data = Vec::new();
    loop {
        data.reserve(CHUNK);
        let spare = data.spare_capacity_mut();
        // SAFETY: the spare capacity is allocated and writable for `spare.len()` bytes; the
        // read call writes bytes there and returns how many it wrote.
        let n = unsafe { abi::sys_read(abi::FD_INPUT, spare.as_mut_ptr().cast(), spare.len()) };
        if n == 0 || n > spare.len() {
            return data;
        }
        // SAFETY: the first `n` spare bytes were just written by the read call.
        unsafe { data.set_len(data.len() + n) };
    }
}

/// Writes all of `bytes` to file descriptor `fd`.
fn write_all(fd: u32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live slice of `bytes.len()` bytes.
        let n = unsafe { abi::sys_write(fd, bytes.as_ptr(), bytes.len()) };
        if n == 0 || n > bytes.len() {
            return;
        }
        bytes = &bytes[n..];
    }
}

/// Appends `bytes` to the public output, which the proof commits to. Successive calls
/// concatenate: the public output is every committed byte, in order.
pub fn commit(bytes: &[u8]) {
    write_all(abi::FD_PUBLIC_OUTPUT, bytes);
}

/// Writes `message` to the debug log (not committed by the proof). No newline is added; see
/// [`logln!`](crate::logln) for formatted lines.
pub fn log(message: &str) {
    write_all(abi::FD_DEBUG_LOG, message.as_bytes());
}

/// Writes raw bytes to the debug log (not committed by the proof).
pub fn log_bytes(bytes: &[u8]) {
    write_all(abi::FD_DEBUG_LOG, bytes);
}

/// Ends the guest with `code` (0 means success; the panic handler uses 101). Never returns.
pub fn exit(code: i32) -> ! {
    abi::sys_exit(code as u32)
}

/// A [`fmt::Write`] sink for the debug log that buffers up to 256 bytes on the stack, so
/// formatting neither allocates nor issues one system call per fragment. Call
/// [`DebugLog::flush`] when done (dropping it flushes too).
pub struct DebugLog {
    buf: [u8; 256],
    len: usize,
}

impl DebugLog {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }

    /// Writes the buffered bytes to the debug log.
    pub fn flush(&mut self) {
        if self.len > 0 {
            log_bytes(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for DebugLog {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for DebugLog {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let n = bytes.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

impl Drop for DebugLog {
    fn drop(&mut self) {
        self.flush();
    }
}

//! Fibonacci: reads n as a little-endian u32 from the private input (n = 10 when the input is
//! empty), computes fib(n) mod 2^32 iteratively (fib(0) = 0, fib(1) = 1) and commits it as 4
//! little-endian bytes. Input of 1 to 3 bytes is an error (panic, exit 101); bytes after the
//! first 4 are ignored.
#![no_std]
#![no_main]

zkbox_guest::entry!(main);

/// n when the input is empty.
const DEFAULT_N: u32 = 10;

fn main() {
    let mut bytes = [0u8; 4];
    let n = match zkbox_guest::read_fill(&mut bytes) {
        0 => DEFAULT_N,
        4 => u32::from_le_bytes(bytes),
        short => panic!(
            "fibonacci: input must be empty or a 4-byte little-endian u32, got {short} bytes"
        ),
    };
    let fib = fibonacci(n);
    zkbox_guest::logln!("fibonacci: fib({n}) mod 2^32 = {fib}");
    zkbox_guest::commit(&fib.to_le_bytes());
}

/// fib(n) mod 2^32, with fib(0) = 0 and fib(1) = 1.
fn fibonacci(n: u32) -> u32 {
    let (mut a, mut b) = (0u32, 1u32);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

//! Panic: logs one line, then panics. The SDK's panic handler writes
//! `panicked at src/main.rs:LINE:COLUMN:` and the message below to the debug log and exits
//! with code 101. Nothing is committed.
#![no_std]
#![no_main]

zkbox_guest::entry!(main);

fn main() {
    zkbox_guest::log("panic guest: about to panic\n");
    panic!("zkbox panic guest: deliberate panic");
}

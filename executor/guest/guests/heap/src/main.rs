//! Heap: exercises the SDK's allocator, then optionally runs out of memory.
//!
//! Input: empty, or one byte (more are ignored): 0 = allocate and commit, 1 = the same, then
//! ask for 0x7000_0000 bytes (1.75 GiB), more than the heap (`_end` to `0x7000_0000`) holds:
//! the allocation fails and the guest panics with "memory allocation of 1879048192 bytes
//! failed" (exit 101), after committing the same output.
//!
//! Output: four LE u32 words: the sum of 0..100_000 (mod 2^32) kept in a growing `Vec`, the
//! number of distinct keys in a `BTreeMap` of `i * 7 % 1000` for i in 0..5000, the length of a
//! formatted `String`, and the sum of a zeroed buffer reused after a freed dirty one (0).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;

zkbox_guest::entry!(main);

fn main() {
    let mut mode = [0u8; 1];
    zkbox_guest::read_fill(&mut mode);

    let mut numbers = Vec::new();
    for i in 0..100_000u32 {
        numbers.push(i);
    }
    let sum = numbers.iter().fold(0u32, |acc, &x| acc.wrapping_add(x));
    drop(numbers);

    let mut counts = BTreeMap::new();
    for i in 0..5000u32 {
        *counts.entry(i * 7 % 1000).or_insert(0u32) += 1;
    }
    let distinct = counts.len() as u32;

    let text = format!("{sum} {distinct} {:?}", counts.get(&7));
    let text_len = text.len() as u32;

    // A dirty block, freed, then a zeroed block over the same memory.
    let dirty = alloc::vec![0xa5u8; 4096];
    core::hint::black_box(&dirty);
    drop(dirty);
    let zeroed = alloc::vec![0u8; 4096];
    let zero_sum: u32 = core::hint::black_box(&zeroed)
        .iter()
        .map(|&b| u32::from(b))
        .sum();

    zkbox_guest::logln!("heap: {text}, zeroed sum {zero_sum}");
    for word in [sum, distinct, text_len, zero_sum] {
        zkbox_guest::commit(&word.to_le_bytes());
    }

    if mode[0] == 1 {
        zkbox_guest::log("heap: asking for 1.75 GiB\n");
        let huge: Vec<u8> = Vec::with_capacity(0x7000_0000);
        core::hint::black_box(huge.as_ptr());
        unreachable!("a 1.75 GiB allocation succeeded");
    }
}

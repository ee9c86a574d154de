//! Keccak: an iterated Keccak-256 (Ethereum's, padding byte 0x01; not SHA3-256).
//!
//! Input: `k` as a little-endian u32 (4 bytes), then the data (the rest of the input).
//! Output (committed): `h_k`, 32 bytes, where `h_1 = keccak256(data)` and
//! `h_i = keccak256(h_{i-1})` for `i = 2..=k`.
//! An empty input means `k = 1` and empty data (the output is keccak256("") =
//! `c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470`).
//! An input of 1 to 3 bytes, or `k = 0`, is an error (panic, exit 101).
#![no_std]
#![no_main]

extern crate alloc;

mod keccak;

zkbox_guest::entry!(main);

fn main() {
    let input = zkbox_guest::read_to_end();
    let (k, data) = match input.len() {
        0 => (1, &input[..]),
        1..=3 => panic!(
            "keccak: input must be empty or start with a 4-byte little-endian iteration count"
        ),
        _ => {
            let (count, data) = input.split_at(4);
            (u32::from_le_bytes(count.try_into().expect("4 bytes")), data)
        }
    };
    assert!(k >= 1, "keccak: the iteration count must be at least 1");
    let mut hash = keccak::keccak256(data);
    for _ in 1..k {
        hash = keccak::keccak256(&hash);
    }
    zkbox_guest::logln!("keccak: {k} iterations over {} bytes", data.len());
    zkbox_guest::commit(&hash);
}

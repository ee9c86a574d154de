//! Keccak-256 as Ethereum uses it: the Keccak-f[1600] sponge with rate 136 bytes, capacity
//! 512 bits and the original Keccak padding (first pad byte 0x01; SHA3-256 uses 0x06).

/// Bytes absorbed per permutation: (1600 - 2 * 256) / 8.
const RATE: usize = 136;

/// Round constants of Keccak-f[1600] (the iota step).
const ROUND_CONSTANTS: [u64; 24] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808a,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808b,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008a,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000a,
    0x0000_0000_8000_808b,
    0x8000_0000_0000_008b,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800a,
    0x8000_0000_8000_000a,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// theta's column mixing applied, then rho and pi: `b[pi(lane)] = rotl(a[lane] ^ d[x], rho(lane))`
/// for every lane, listed as (destination, source lane x + 5y, x, rotation) so that every index
/// and rotation is a constant: on RV32 a 64-bit rotation by a variable amount costs branches,
/// by a constant a handful of shifts.
macro_rules! theta_rho_pi {
    (
        $a:ident, $b:ident, $d:ident;
        $(($to:literal, $from:literal, $x:literal, $rotation:literal)),* $(,)?
    ) => {
        $($b[$to] = ($a[$from] ^ $d[$x]).rotate_left($rotation);)*
    };
}

/// The Keccak-f[1600] permutation on 25 lanes, lane (x, y) at index x + 5y.
fn keccak_f(a: &mut [u64; 25]) {
    let mut b = [0u64; 25];
    for rc in ROUND_CONSTANTS {
        // theta: column parities and the value each column is mixed with
        let c = [
            a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20],
            a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21],
            a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22],
            a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23],
            a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24],
        ];
        let d = [
            c[4] ^ c[1].rotate_left(1),
            c[0] ^ c[2].rotate_left(1),
            c[1] ^ c[3].rotate_left(1),
            c[2] ^ c[4].rotate_left(1),
            c[3] ^ c[0].rotate_left(1),
        ];
        // theta applied, rho and pi: a -> b
        theta_rho_pi!(a, b, d;
            (0, 0, 0, 0), (10, 1, 1, 1), (20, 2, 2, 62), (5, 3, 3, 28),
            (15, 4, 4, 27), (16, 5, 0, 36), (1, 6, 1, 44), (11, 7, 2, 6),
            (21, 8, 3, 55), (6, 9, 4, 20), (7, 10, 0, 3), (17, 11, 1, 10),
            (2, 12, 2, 43), (12, 13, 3, 25), (22, 14, 4, 39), (23, 15, 0, 41),
            (8, 16, 1, 45), (18, 17, 2, 15), (3, 18, 3, 21), (13, 19, 4, 8),
            (14, 20, 0, 18), (24, 21, 1, 2), (9, 22, 2, 61), (19, 23, 3, 56),
            (4, 24, 4, 14),
        );
        // chi: b -> a
        for y in 0..5 {
            let row = &b[5 * y..5 * y + 5];
            for x in 0..5 {
                a[5 * y + x] = row[x] ^ (!row[(x + 1) % 5] & row[(x + 2) % 5]);
            }
        }
        // iota
        a[0] ^= rc;
    }
}

/// XORs one `RATE`-byte block into the state, lanes little-endian.
fn absorb_block(state: &mut [u64; 25], block: &[u8; RATE]) {
    for (lane, bytes) in state.iter_mut().zip(block.chunks_exact(8)) {
        *lane ^= u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    }
}

/// The 256-bit sponge with first padding byte `pad` (0x01: Keccak, 0x06: SHA3).
fn sponge256(data: &[u8], pad: u8) -> [u8; 32] {
    let mut state = [0u64; 25];
    let mut blocks = data.chunks_exact(RATE);
    for block in &mut blocks {
        absorb_block(&mut state, block.try_into().expect("RATE bytes"));
        keccak_f(&mut state);
    }
    let rest = blocks.remainder();
    let mut last = [0u8; RATE];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] ^= pad;
    last[RATE - 1] ^= 0x80;
    absorb_block(&mut state, &last);
    keccak_f(&mut state);
    let mut out = [0u8; 32];
    for (bytes, lane) in out.chunks_exact_mut(8).zip(state) {
        bytes.copy_from_slice(&lane.to_le_bytes());
    }
    out
}

/// Keccak-256 of `data` (Ethereum's `keccak256`).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    sponge256(data, 0x01)
}

/// SHA3-256 of `data`; used only to test the permutation against another implementation.
#[cfg(test)]
pub fn sha3_256(data: &[u8]) -> [u8; 32] {
    sponge256(data, 0x06)
}

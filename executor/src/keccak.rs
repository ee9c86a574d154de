//! The `keccakf` system call: the Keccak-f[1600] permutation (FIPS 202) applied in place to a
//! 200-byte state in guest memory, the step every Keccak-256 hash repeats once per 136 bytes
//! absorbed. EVM blocks spend most of their RV32IM cycles outside signature recovery on it
//! (trie node hashes, the roots, `KECCAK256`, log blooms; docs/evm.md). One call is one cycle
//! of the emulator, one row of the prover's keccak-call chip and 24 rows of its keccak-f chip
//! (docs/guest-abi.md).
//!
//! The state is 25 lanes of 64 bits, lane `x + 5y` at bytes `8(x + 5y)..+8`, little-endian:
//! the byte order in which a sponge XORs its input into the state, so a guest absorbs a block
//! by XORing bytes into the buffer and calling the permutation.

/// The state: 25 little-endian 64-bit lanes, lane `x + 5·y` at index `x + 5·y`.
pub type State = [u64; 25];

/// Bytes of the state in memory.
pub const STATE_BYTES: u32 = 200;

/// Words of the state in memory.
pub const STATE_WORDS: u32 = STATE_BYTES / 4;

/// Rounds of Keccak-f[1600].
pub const ROUNDS: usize = 24;

/// The round constants ι adds to lane (0, 0), round by round (FIPS 202, 3.2.5).
pub const ROUND_CONSTANTS: [u64; ROUNDS] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808A,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808B,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008A,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000A,
    0x0000_0000_8000_808B,
    0x8000_0000_0000_008B,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800A,
    0x8000_0000_8000_000A,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// The ρ rotation of lane `x + 5y`, in bits (FIPS 202, 3.2.2).
const RHO: [u32; 25] = [
    0, 1, 62, 28, 27, //
    36, 44, 6, 55, 20, //
    3, 10, 43, 25, 39, //
    41, 45, 15, 21, 8, //
    18, 2, 61, 56, 14,
];

/// Applies Keccak-f[1600] to `state` in place.
pub fn permute(state: &mut State) {
    for rc in ROUND_CONSTANTS {
        // θ: each lane takes the parities of the two neighbouring columns.
        let column: [u64; 5] = core::array::from_fn(|x| {
            state[x] ^ state[x + 5] ^ state[x + 10] ^ state[x + 15] ^ state[x + 20]
        });
        for x in 0..5 {
            let d = column[(x + 4) % 5] ^ column[(x + 1) % 5].rotate_left(1);
            for y in 0..5 {
                state[x + 5 * y] ^= d;
            }
        }
        // ρ and π: lane (x, y) rotates and moves to (y, 2x + 3y).
        let mut moved = [0u64; 25];
        for x in 0..5 {
            for y in 0..5 {
                let to = y + 5 * ((2 * x + 3 * y) % 5);
                moved[to] = state[x + 5 * y].rotate_left(RHO[x + 5 * y]);
            }
        }
        // χ: each lane XORs the AND of its right neighbour's complement and the next one.
        for y in 0..5 {
            for x in 0..5 {
                state[x + 5 * y] =
                    moved[x + 5 * y] ^ (!moved[(x + 1) % 5 + 5 * y] & moved[(x + 2) % 5 + 5 * y]);
            }
        }
        // ι.
        state[0] ^= rc;
    }
}

/// The state held by 50 little-endian words (lane i in words 2i and 2i + 1).
pub fn state_from_words(words: &[u32; STATE_WORDS as usize]) -> State {
    core::array::from_fn(|i| u64::from(words[2 * i]) | (u64::from(words[2 * i + 1]) << 32))
}

/// The 50 little-endian words that hold `state`.
pub fn state_to_words(state: &State) -> [u32; STATE_WORDS as usize] {
    core::array::from_fn(|k| (state[k / 2] >> (32 * (k % 2))) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permutation_of_zero_is_the_published_one() {
        // Keccak-f[1600] of the all-zero state: the first lanes of the reference
        // implementation's published intermediate values (KeccakF-1600-IntermediateValues).
        let mut state = [0u64; 25];
        permute(&mut state);
        assert_eq!(state[0], 0xF125_8F79_40E1_DDE7);
        assert_eq!(state[1], 0x84D5_CCF9_33C0_478A);
        assert_eq!(state[24], 0xEAF1_FF7B_5CEC_A249);
        permute(&mut state);
        assert_eq!(state[0], 0x2D5C_954D_F96E_CB3C);
    }

    /// Keccak-256 (rate 136, padding 0x01 … 0x80) over [`permute`].
    fn keccak256(data: &[u8]) -> [u8; 32] {
        let mut padded = data.to_vec();
        padded.push(0x01);
        padded.resize(padded.len().div_ceil(136) * 136, 0);
        *padded.last_mut().unwrap() |= 0x80;
        let mut state = [0u64; 25];
        for block in padded.chunks(136) {
            for (lane, bytes) in state.iter_mut().zip(block.chunks(8)) {
                *lane ^= u64::from_le_bytes(bytes.try_into().unwrap());
            }
            permute(&mut state);
        }
        core::array::from_fn(|i| state[i / 8].to_le_bytes()[i % 8])
    }

    #[test]
    fn a_sponge_over_it_gives_keccak256() {
        let hex = |h: [u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            hex(keccak256(b"abc")),
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
        );
    }

    #[test]
    fn words_and_lanes_round_trip() {
        let state: State =
            core::array::from_fn(|i| 0x0123_4567_89AB_CDEF_u64.rotate_left(i as u32));
        let words = state_to_words(&state);
        assert_eq!(words[0], 0x89AB_CDEF);
        assert_eq!(words[1], 0x0123_4567);
        assert_eq!(state_from_words(&words), state);
    }
}

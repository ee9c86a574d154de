//! Keccak-256 in the RV32IM guest over the `keccakf` precompile (ecall a7 = [`KECCAKF_ECALL`],
//! docs/guest-abi.md): the sponge runs here, each Keccak-f[1600] permutation is one call.
//!
//! In the guest, alloy's `keccak256` (and so revm's `KECCAK256`, the tries and every hash this
//! crate computes) comes here: alloy-primitives is built there with its `native-keccak`
//! feature, which calls the `native_keccak256` symbol this module defines. Natively alloy
//! keeps tiny-keccak and this module only provides the sponge for tests.
//!
//! The sponge keeps the state as 50 little-endian words, the layout the call permutes, and
//! absorbs each 136-byte block by XORing 34 words into it.

/// The `ecall` number (a7) of the Keccak-f[1600] permutation.
pub const KECCAKF_ECALL: u32 = 0x101;

/// Bytes absorbed per permutation by Keccak-256 (1600 − 2·256 bits).
const RATE: usize = 136;
/// Words of the rate.
const RATE_WORDS: usize = RATE / 4;

/// The sponge state: 25 lanes as 50 little-endian words (lane i in words 2i, 2i + 1).
pub type StateWords = [u32; 50];

/// Keccak-256 of `data` with `permute` as Keccak-f[1600].
pub fn keccak256_with(data: &[u8], mut permute: impl FnMut(&mut StateWords)) -> [u8; 32] {
    let mut state: StateWords = [0; 50];
    let mut blocks = data.chunks_exact(RATE);
    for block in &mut blocks {
        for (word, bytes) in state.iter_mut().zip(block.chunks_exact(4)) {
            *word ^= u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        permute(&mut state);
    }
    // The last, partial block with Keccak's padding: 0x01 after the data, 0x80 in the
    // block's last byte (both in one byte when only one is left).
    let mut last = [0u8; RATE];
    let tail = blocks.remainder();
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] ^= 0x01;
    last[RATE - 1] ^= 0x80;
    for (k, word) in state.iter_mut().take(RATE_WORDS).enumerate() {
        *word ^= u32::from_le_bytes([
            last[4 * k],
            last[4 * k + 1],
            last[4 * k + 2],
            last[4 * k + 3],
        ]);
    }
    permute(&mut state);
    let mut out = [0u8; 32];
    for (k, word) in state.iter().take(8).enumerate() {
        out[4 * k..4 * k + 4].copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// One Keccak-f[1600] permutation through the precompile.
#[cfg(target_arch = "riscv32")]
#[inline(always)]
pub fn permute(state: &mut StateWords) {
    // SAFETY: the keccakf ecall reads and then writes the 200 bytes at a0 (`state`: a live,
    // writable, 4-byte aligned [u32; 50]) and changes no register.
    unsafe {
        core::arch::asm!(
            "ecall",
            in("a7") KECCAKF_ECALL,
            in("a0") state.as_mut_ptr(),
            options(nostack),
        );
    }
}

/// The hook alloy-primitives' `native-keccak` feature calls for every `keccak256`.
///
/// # Safety
/// `bytes` must point to `len` readable bytes and `output` to 32 writable ones.
#[cfg(target_arch = "riscv32")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn native_keccak256(bytes: *const u8, len: usize, output: *mut u8) {
    // SAFETY: the caller passes a slice's pointer and length (alloy: `bytes.as_ptr()`,
    // `bytes.len()`), which may be dangling only when `len` is 0.
    let data = if len == 0 {
        &[][..]
    } else {
        unsafe { core::slice::from_raw_parts(bytes, len) }
    };
    let hash = keccak256_with(data, permute);
    // SAFETY: alloy passes a 32-byte output buffer.
    unsafe { core::ptr::copy_nonoverlapping(hash.as_ptr(), output, 32) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;

    fn software_permute(state: &mut StateWords) {
        let mut lanes: [u64; 25] =
            core::array::from_fn(|i| u64::from(state[2 * i]) | (u64::from(state[2 * i + 1]) << 32));
        tiny_keccak::keccakf(&mut lanes);
        for (i, lane) in lanes.iter().enumerate() {
            state[2 * i] = *lane as u32;
            state[2 * i + 1] = (*lane >> 32) as u32;
        }
    }

    #[test]
    fn the_sponge_agrees_with_alloy_at_every_block_boundary() {
        let data: alloc::vec::Vec<u8> = (0..700u32).map(|i| (i * 131 + 7) as u8).collect();
        for len in (0..=420).chain([543, 544, 679, 680, 681, 700]) {
            let input = &data[..len];
            assert_eq!(
                keccak256_with(input, software_permute),
                keccak256(input).0,
                "length {len}"
            );
        }
    }
}

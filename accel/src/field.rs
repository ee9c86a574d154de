//! BabyBear on the host side of a device: converting matrices to and from the canonical
//! `u32` words device buffers hold, Montgomery-form constants for kernels, and the kernel
//! constant tables generated from Plonky3's own parameters (nothing here is typed in by hand).

use p3_baby_bear::{
    BABYBEAR_POSEIDON2_HALF_FULL_ROUNDS, BABYBEAR_POSEIDON2_PARTIAL_ROUNDS_16,
    BABYBEAR_POSEIDON2_RC_16_EXTERNAL_FINAL, BABYBEAR_POSEIDON2_RC_16_EXTERNAL_INITIAL,
    BABYBEAR_POSEIDON2_RC_16_INTERNAL, BabyBear, GenericPoseidon2LinearLayersBabyBear,
};
use p3_field::{PrimeCharacteristicRing, PrimeField32};
use p3_maybe_rayon::prelude::*;
use p3_poseidon2::GenericPoseidon2LinearLayers;

/// BabyBear's modulus, p = 15·2^27 + 1.
pub(crate) const MODULUS: u32 = BabyBear::ORDER_U32;

/// Canonical words of a slice of field elements.
pub(crate) fn to_words(values: &[BabyBear]) -> Vec<u32> {
    values.par_iter().map(|v| v.as_canonical_u32()).collect()
}

/// Writes the canonical words of `values` into `words` (same length), on all cores: a
/// matrix of 2^28 elements takes a second on one core.
pub(crate) fn write_words(words: &mut [u32], values: &[BabyBear]) {
    words
        .par_iter_mut()
        .zip(values.par_iter())
        .for_each(|(word, value)| *word = value.as_canonical_u32());
}

/// Field elements from canonical words; `None` if any word is not below p (a word a
/// kernel never wrote, or memory corruption).
pub(crate) fn from_words(words: &[u32]) -> Option<Vec<BabyBear>> {
    if words.par_iter().any(|&w| w >= MODULUS) {
        return None;
    }
    Some(words.par_iter().map(|&w| BabyBear::new(w)).collect())
}

/// `x · 2^32 mod p`: the Montgomery form kernels expect constants in.
pub(crate) fn montgomery(x: BabyBear) -> u32 {
    ((u64::from(x.as_canonical_u32()) << 32) % u64::from(MODULUS)) as u32
}

/// The `#define`s describing the field for `babybear.h`.
pub(crate) fn field_defines() -> String {
    let mu = modular_inverse_mod_2_32(MODULUS);
    let r2 = ((1u128 << 64) % u128::from(MODULUS)) as u32;
    format!("#define BB_P {MODULUS}u\n#define BB_MU {mu}u\n#define BB_R2 {r2}u\n")
}

/// `p⁻¹ mod 2^32` for odd p, by Newton iteration.
fn modular_inverse_mod_2_32(p: u32) -> u32 {
    let mut inverse: u32 = 1;
    for _ in 0..5 {
        inverse = inverse.wrapping_mul(2u32.wrapping_sub(p.wrapping_mul(inverse)));
    }
    inverse
}

/// How the Poseidon2 constant buffer is laid out, in words (all in Montgomery form).
pub(crate) struct Poseidon2Constants {
    /// Initial external round constants, then internal, then terminal, then the internal
    /// matrix's diagonal `d` (the internal matrix is `1·1ᵀ + diag(d)`).
    pub(crate) words: Vec<u32>,
    /// External rounds at each end.
    pub(crate) half_full_rounds: usize,
    /// Internal (partial) rounds.
    pub(crate) partial_rounds: usize,
}

/// The width-16 constants of Plonky3's `default_babybear_poseidon2_16()`, in the layout
/// `poseidon2.h` reads.
pub(crate) fn poseidon2_constants() -> Poseidon2Constants {
    let initial = BABYBEAR_POSEIDON2_RC_16_EXTERNAL_INITIAL.iter().flatten();
    let internal = BABYBEAR_POSEIDON2_RC_16_INTERNAL.iter();
    let terminal = BABYBEAR_POSEIDON2_RC_16_EXTERNAL_FINAL.iter().flatten();
    let diagonal = internal_diagonal();
    let words = initial
        .chain(internal)
        .chain(terminal)
        .chain(diagonal.iter())
        .map(|&c| montgomery(c))
        .collect();
    Poseidon2Constants {
        words,
        half_full_rounds: BABYBEAR_POSEIDON2_HALF_FULL_ROUNDS,
        partial_rounds: BABYBEAR_POSEIDON2_PARTIAL_ROUNDS_16,
    }
}

/// The diagonal `d` of Plonky3's internal matrix `M = 1·1ᵀ + diag(d)`, read off by applying
/// its internal linear layer to unit vectors: `(M e_j)_j = 1 + d_j`.
pub(crate) fn internal_diagonal() -> [BabyBear; 16] {
    core::array::from_fn(|j| internal_matrix_column(j)[j] - BabyBear::ONE)
}

/// Column `j` of Plonky3's internal linear layer.
fn internal_matrix_column(j: usize) -> [BabyBear; 16] {
    let mut state = [BabyBear::ZERO; 16];
    state[j] = BabyBear::ONE;
    GenericPoseidon2LinearLayersBabyBear::internal_linear_layer(&mut state);
    state
}

/// Column `j` of Plonky3's external linear layer.
#[cfg(test)]
fn external_matrix_column(j: usize) -> [BabyBear; 16] {
    let mut state = [BabyBear::ZERO; 16];
    state[j] = BabyBear::ONE;
    GenericPoseidon2LinearLayersBabyBear::external_linear_layer(&mut state);
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn montgomery_constants_match_plonky3() {
        let mu = modular_inverse_mod_2_32(MODULUS);
        assert_eq!(MODULUS.wrapping_mul(mu), 1);
        assert_eq!(montgomery(BabyBear::ZERO), 0);
        assert_eq!(from_words(&[MODULUS]), None);
        let x = BabyBear::new(123_456_789);
        assert_eq!(from_words(&to_words(&[x])).unwrap(), vec![x]);
    }

    /// The kernels assume the internal matrix is all-ones plus a diagonal, and the external
    /// one is circ(2·M4, M4, M4, M4) with M4 = [[2,3,1,1],[1,2,3,1],[1,1,2,3],[3,1,1,2]].
    #[test]
    fn plonky3_linear_layers_have_the_shape_the_kernels_assume() {
        for j in 0..16 {
            let column = internal_matrix_column(j);
            for (i, &entry) in column.iter().enumerate() {
                if i != j {
                    assert_eq!(entry, BabyBear::ONE, "internal ({i},{j})");
                }
            }
        }
        let m4 = [[2u32, 3, 1, 1], [1, 2, 3, 1], [1, 1, 2, 3], [3, 1, 1, 2]];
        for j in 0..16 {
            let column = external_matrix_column(j);
            for (i, &entry) in column.iter().enumerate() {
                let block_factor = if i / 4 == j / 4 { 2 } else { 1 };
                let expected = BabyBear::new(block_factor * m4[i % 4][j % 4]);
                assert_eq!(entry, expected, "external ({i},{j})");
            }
        }
        let constants = poseidon2_constants();
        assert_eq!(
            constants.words.len(),
            2 * constants.half_full_rounds * 16 + constants.partial_rounds + 16
        );
    }
}

//! FRI folding on a device.
//!
//! FRI keeps each round's vector of extension elements in bit-reversed order, so the
//! evaluations at `x` and `−x` are neighbours. One arity-2 round ([`Backend::fri_fold`])
//! turns `2·h` of them into `h`:
//!
//! `out[i] = (lo + hi)/2 + (lo − hi) · β · g^(−rev(i))/2`
//!
//! with `lo`, `hi` elements `2i` and `2i + 1`, `g` a generator of the order-`2h` subgroup
//! and `rev` reversing `log2(h)` bits. That is Plonky3's `TwoAdicFriFolding` at arity 2, and
//! its arity-`2^k` fold is `k` such rounds with `β, β², β⁴, …` ([`fold`]), so one kernel per
//! API serves every arity. On the device a vector is an `n × 4` matrix of the elements'
//! basis coefficients, declared bit-reversed; a round's commitment sees the same buffer as
//! rows of `arity` elements ([`Backend::reshape`]), and a fold reads it either way. A
//! shorter reduced opening joins the folded vector through [`Backend::fri_add_scaled`].

use p3_baby_bear::BabyBear;
use p3_field::{BasedVectorSpace, Field, PrimeCharacteristicRing, TwoAdicField};
use p3_maybe_rayon::prelude::*;

use crate::AccelError;
use crate::backend::{Backend, DeviceMatrix, RowOrder};
use crate::quotient::Ext;

/// Uploads FRI's vector `values` as the `n × 4` bit-reversed matrix [`Backend::fri_fold`]
/// reads.
pub fn upload_vector<B: Backend>(
    backend: &B,
    values: &[Ext],
) -> Result<DeviceMatrix<B>, AccelError> {
    let words: Vec<BabyBear> = values
        .iter()
        .flat_map(|v| v.as_basis_coefficients_slice().iter().copied())
        .collect();
    Ok(backend
        .upload(&words, 4)?
        .assume_order(RowOrder::BitReversed))
}

/// Folds `values` by `2^log_arity` with challenge `beta`: `log_arity` arity-2 rounds with
/// `β, β², β⁴, …`, as Plonky3's `TwoAdicFriFolding::fold_matrix` folds a matrix of width
/// `2^log_arity` whose rows are `values` taken `2^log_arity` at a time. The result stays on
/// the device.
pub fn fold<B: Backend>(
    backend: &B,
    values: &DeviceMatrix<B>,
    beta: Ext,
    log_arity: usize,
) -> Result<DeviceMatrix<B>, AccelError> {
    let elements = values.height() * values.width() / 4;
    if log_arity == 0 || elements.checked_shr(log_arity as u32).unwrap_or(0) == 0 {
        return Err(AccelError::ShapeMismatch {
            detail: format!(
                "cannot fold {elements} elements by 2^{log_arity}: the arity must be at least 2 \
                 and at most the length"
            ),
        });
    }
    let mut folded = backend.fri_fold(values, beta)?;
    let mut round_beta = beta.square();
    for _ in 1..log_arity {
        folded = backend.fri_fold(&folded, round_beta)?;
        round_beta = round_beta.square();
    }
    Ok(folded)
}

/// Checks a round's input: `n ≥ 2` extension elements (`n` a power of two), rows of whole
/// elements (a width of 4 per element), declared bit-reversed. Returns `log2(n/2)`.
pub(crate) fn check_fold_input<B: Backend + ?Sized>(
    values: &DeviceMatrix<B>,
) -> Result<usize, AccelError> {
    let shape = |detail: String| Err(AccelError::ShapeMismatch { detail });
    if values.width() == 0 || !values.width().is_multiple_of(4) {
        return shape(format!(
            "a FRI vector's rows hold whole extension elements (4 columns each), not {} columns",
            values.width()
        ));
    }
    let n = values.height() * values.width() / 4;
    if n < 2 || !n.is_power_of_two() {
        return shape(format!(
            "a FRI fold needs a power-of-two length of at least 2, not {n}"
        ));
    }
    if values.order() != RowOrder::BitReversed {
        return shape("a FRI vector is in bit-reversed order; declare it so".into());
    }
    let log_half = n.trailing_zeros() as usize - 1;
    if log_half >= BabyBear::TWO_ADICITY {
        return shape(format!(
            "a FRI vector of 2^{} elements is too long",
            log_half + 1
        ));
    }
    Ok(log_half)
}

/// Checks [`Backend::fri_add_scaled`]'s operands (two `n × 4` vectors) and returns its
/// kernel words: `n` and the factor's four coefficients in Montgomery form.
pub(crate) fn add_scaled_words<B: Backend + ?Sized>(
    acc: &DeviceMatrix<B>,
    addend: &DeviceMatrix<B>,
    factor: Ext,
) -> Result<[u32; 5], AccelError> {
    if acc.width() != 4 || (addend.width(), addend.height()) != (4, acc.height()) {
        return Err(AccelError::ShapeMismatch {
            detail: format!(
                "adding a {}x{} vector to a {}x{} one: both are n x 4",
                addend.height(),
                addend.width(),
                acc.height(),
                acc.width()
            ),
        });
    }
    if acc.height() > u32::MAX as usize / 4 {
        return Err(AccelError::ShapeMismatch {
            detail: format!("a FRI vector of {} elements is too long", acc.height()),
        });
    }
    let f = factor.as_basis_coefficients_slice();
    Ok([
        acc.height() as u32,
        crate::field::montgomery(f[0]),
        crate::field::montgomery(f[1]),
        crate::field::montgomery(f[2]),
        crate::field::montgomery(f[3]),
    ])
}

/// The host's `acc[x] += factor · addend[x]` over basis coefficients: the CPU backend's.
pub(crate) fn add_scaled_on_host(acc: &mut [BabyBear], addend: &[BabyBear], factor: Ext) {
    acc.par_chunks_exact_mut(4)
        .zip(addend.par_chunks_exact(4))
        .for_each(|(a, x)| {
            let sum = Ext::from_basis_coefficients_slice(a).unwrap()
                + factor * Ext::from_basis_coefficients_slice(x).unwrap();
            a.copy_from_slice(sum.as_basis_coefficients_slice());
        });
}

/// The inverse of the generator of the subgroup of order `2^(log_half + 1)`.
pub(crate) fn generator_inverse(log_half: usize) -> BabyBear {
    BabyBear::two_adic_generator(log_half + 1).inverse()
}

/// The host's round over basis coefficients (4 per element), written out one element at a
/// time from the formula in the module documentation: the CPU backend's round and the
/// reference the device kernels are tested against (besides Plonky3 itself).
pub(crate) fn fold_on_host(words: &[BabyBear], log_half: usize, beta: Ext) -> Vec<BabyBear> {
    let g_inv = generator_inverse(log_half);
    let half = BabyBear::ONE.halve();
    let element = |k: usize| Ext::from_basis_coefficients_slice(&words[4 * k..4 * k + 4]).unwrap();
    (0..1usize << log_half)
        .into_par_iter()
        .flat_map_iter(|i| {
            let (lo, hi) = (element(2 * i), element(2 * i + 1));
            let reversed = if log_half == 0 {
                0
            } else {
                i.reverse_bits() >> (usize::BITS as usize - log_half)
            };
            let factor = g_inv.exp_u64(reversed as u64) * half;
            let folded = (lo + hi) * half + (lo - hi) * beta * factor;
            folded.as_basis_coefficients_slice().to_vec()
        })
        .collect()
}

/// The scalar arguments of the device kernels' round, in their order: `log2(n/2)`, `g⁻¹`
/// and `β`'s four coefficients, the last five in Montgomery form. Checks `values` first.
#[cfg_attr(
    not(any(feature = "opencl", feature = "cuda", feature = "vulkan")),
    allow(dead_code)
)]
pub(crate) fn kernel_words<B: Backend + ?Sized>(
    values: &DeviceMatrix<B>,
    beta: Ext,
) -> Result<[u32; 6], AccelError> {
    let log_half = check_fold_input(values)?;
    let b = beta.as_basis_coefficients_slice();
    Ok([
        log_half as u32,
        crate::field::montgomery(generator_inverse(log_half)),
        crate::field::montgomery(b[0]),
        crate::field::montgomery(b[1]),
        crate::field::montgomery(b[2]),
        crate::field::montgomery(b[3]),
    ])
}

/// The `n/2 × 4` bit-reversed matrix a device round writes into `buffer`.
#[cfg_attr(
    not(any(feature = "opencl", feature = "cuda", feature = "vulkan")),
    allow(dead_code)
)]
pub(crate) fn folded_matrix<B: Backend>(buffer: B::Buffer, log_half: u32) -> DeviceMatrix<B> {
    DeviceMatrix {
        buffer,
        width: 4,
        height: 1 << log_half,
        order: RowOrder::BitReversed,
    }
}

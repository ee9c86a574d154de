//! The PCS opening's row arithmetic on a device.
//!
//! Opening a committed matrix `M` (an LDE on a coset, rows in committed order) at a point
//! `z` takes two passes over it:
//!
//! - **Out-of-domain evaluation**: each column's value at `z` is, by barycentric
//!   interpolation, a fixed multiple of `Σ_r w_r · M[r][c]` over the first rows, with
//!   weights `w_r` that depend on `z` only ([`Backend::column_dot`]).
//! - **DEEP reduction**: the columns are combined with powers of a challenge `α`,
//!   `R(x) = Σ_i α^i · M[x][i]` ([`Backend::combine_rows`]), and for each point the row's
//!   DEEP quotient `(c − s · R(x)) / (z − x)` is added to a running sum per row
//!   ([`Backend::deep_accumulate`]), with `c` the combined claimed values and `s` a power of
//!   `α`, and `1/(z − x)` precomputed per point.
//!
//! Vectors of extension elements live on the device as `n × 4` matrices of their basis
//! coefficients. The GPU kernels sum the column products in chunks of [`COLUMN_CHUNK`]
//! rows and the host adds the chunks.

use p3_baby_bear::BabyBear;
use p3_field::{BasedVectorSpace, PrimeCharacteristicRing};
use p3_maybe_rayon::prelude::*;

use crate::AccelError;
use crate::backend::{Backend, DeviceMatrix};
use crate::quotient::Ext;

/// Rows one GPU work-item of [`Backend::column_dot`] sums.
pub const COLUMN_CHUNK: usize = 1024;

fn shape_error<T>(detail: String) -> Result<T, AccelError> {
    Err(AccelError::ShapeMismatch { detail })
}

/// Checks [`Backend::combine_rows`]' input: one power per column, at least one of each.
pub(crate) fn check_combine<B: Backend + ?Sized>(
    matrix: &DeviceMatrix<B>,
    powers: &[Ext],
) -> Result<(), AccelError> {
    if matrix.width() == 0 || matrix.height() == 0 || powers.len() != matrix.width() {
        return shape_error(format!(
            "combining the rows of a {}x{} matrix needs one power per column, not {}",
            matrix.height(),
            matrix.width(),
            powers.len()
        ));
    }
    Ok(())
}

/// Checks [`Backend::deep_accumulate`]'s input: `combined` and `acc` `n × 4`, `denominators`
/// at least `n × 4`.
pub(crate) fn check_accumulate<B: Backend + ?Sized>(
    combined: &DeviceMatrix<B>,
    denominators: &DeviceMatrix<B>,
    acc: &DeviceMatrix<B>,
) -> Result<usize, AccelError> {
    let n = combined.height();
    let fits = [combined, denominators, acc].iter().all(|m| m.width() == 4)
        && acc.height() == n
        && denominators.height() >= n;
    if !fits || n == 0 {
        return shape_error(format!(
            "a DEEP step takes n x 4 rows and sums and at least n x 4 denominators, not {}x{}, \
             {}x{} and {}x{}",
            combined.height(),
            combined.width(),
            acc.height(),
            acc.width(),
            denominators.height(),
            denominators.width()
        ));
    }
    Ok(n)
}

/// Checks [`Backend::column_dot`]'s input: `rows` of the matrix, at least as many weights.
pub(crate) fn check_column_dot<B: Backend + ?Sized>(
    matrix: &DeviceMatrix<B>,
    rows: usize,
    weights: &DeviceMatrix<B>,
) -> Result<(), AccelError> {
    if rows == 0
        || rows > matrix.height()
        || matrix.width() == 0
        || weights.width() != 4
        || weights.height() < rows
    {
        return shape_error(format!(
            "column sums over {rows} rows of a {}x{} matrix need at least {rows} x 4 weights, \
             not {}x{}",
            matrix.height(),
            matrix.width(),
            weights.height(),
            weights.width()
        ));
    }
    Ok(())
}

/// The host's [`Backend::combine_rows`] over row-major `values` of `width` columns.
pub(crate) fn combine_rows_on_host(
    values: &[BabyBear],
    width: usize,
    powers: &[Ext],
) -> Vec<BabyBear> {
    values
        .par_chunks_exact(width)
        .flat_map_iter(|row| {
            let combined: Ext = row.iter().zip(powers).map(|(&v, &p)| p * v).sum();
            combined.as_basis_coefficients_slice().to_vec()
        })
        .collect()
}

/// The host's [`Backend::deep_accumulate`] over basis coefficients.
pub(crate) fn deep_accumulate_on_host(
    combined: &[BabyBear],
    denominators: &[BabyBear],
    c: Ext,
    s: Ext,
    acc: &mut [BabyBear],
) {
    let element = |words: &[BabyBear], x: usize| {
        Ext::from_basis_coefficients_slice(&words[4 * x..4 * x + 4]).unwrap()
    };
    acc.par_chunks_exact_mut(4)
        .enumerate()
        .for_each(|(x, sum)| {
            let term = (c - s * element(combined, x)) * element(denominators, x);
            let total = Ext::from_basis_coefficients_slice(sum).unwrap() + term;
            sum.copy_from_slice(total.as_basis_coefficients_slice());
        });
}

/// The host's [`Backend::column_dot`] over row-major `values` of `width` columns.
pub(crate) fn column_dot_on_host(
    values: &[BabyBear],
    width: usize,
    rows: usize,
    weights: &[BabyBear],
) -> Vec<Ext> {
    (0..width)
        .into_par_iter()
        .map(|c| {
            (0..rows)
                .map(|r| {
                    let weight =
                        Ext::from_basis_coefficients_slice(&weights[4 * r..4 * r + 4]).unwrap();
                    weight * values[r * width + c]
                })
                .sum()
        })
        .collect()
}

/// The column sums from a GPU kernel's partial sums: `chunks × width` extension elements,
/// chunk by chunk.
#[cfg_attr(
    not(any(feature = "opencl", feature = "cuda", feature = "vulkan")),
    allow(dead_code)
)]
pub(crate) fn sum_partials(partials: &[BabyBear], width: usize) -> Vec<Ext> {
    let mut sums = vec![Ext::ZERO; width];
    for chunk in partials.chunks_exact(4 * width) {
        for (sum, words) in sums.iter_mut().zip(chunk.chunks_exact(4)) {
            *sum += Ext::from_basis_coefficients_slice(words).unwrap();
        }
    }
    sums
}

/// The `height × 4` matrix of combined rows a device wrote into `buffer` for `matrix`, in
/// its row order.
#[cfg_attr(
    not(any(feature = "opencl", feature = "cuda", feature = "vulkan")),
    allow(dead_code)
)]
pub(crate) fn combined_matrix<B: Backend>(
    buffer: B::Buffer,
    matrix: &DeviceMatrix<B>,
) -> DeviceMatrix<B> {
    DeviceMatrix {
        buffer,
        width: 4,
        height: matrix.height(),
        order: matrix.order(),
    }
}

/// The partial sums a GPU [`Backend::column_dot`] wrote into `buffer` for a matrix of
/// `width` columns, summed on the host.
#[cfg_attr(
    not(any(feature = "opencl", feature = "cuda", feature = "vulkan")),
    allow(dead_code)
)]
pub(crate) fn download_column_sums<B: Backend>(
    backend: &B,
    buffer: B::Buffer,
    width: usize,
    chunks: usize,
) -> Result<Vec<Ext>, AccelError> {
    let partials = backend.download(&DeviceMatrix {
        buffer,
        width: 4,
        height: chunks * width,
        order: crate::backend::RowOrder::Natural,
    })?;
    Ok(sum_partials(&partials, width))
}

/// The chunks a GPU [`Backend::column_dot`] over `rows` rows launches.
#[cfg_attr(
    not(any(feature = "opencl", feature = "cuda", feature = "vulkan")),
    allow(dead_code)
)]
pub(crate) fn column_chunks(rows: usize) -> usize {
    rows.div_ceil(COLUMN_CHUNK)
}

/// Extension elements as device words: canonical (for values the kernels take as data) or
/// Montgomery form (for the powers and the scalar `s`, which they take as constants).
#[cfg_attr(
    not(any(feature = "opencl", feature = "cuda", feature = "vulkan")),
    allow(dead_code)
)]
pub(crate) fn ext_words(values: &[Ext], montgomery: bool) -> Vec<u32> {
    use p3_field::PrimeField32;
    values
        .iter()
        .flat_map(|v| v.as_basis_coefficients_slice().iter().copied())
        .map(|x| {
            if montgomery {
                crate::field::montgomery(x)
            } else {
                x.as_canonical_u32()
            }
        })
        .collect()
}

/// The words of [`Backend::deep_accumulate`]'s scalar table: `c` canonical, then `s` in
/// Montgomery form.
#[cfg_attr(
    not(any(feature = "opencl", feature = "cuda", feature = "vulkan")),
    allow(dead_code)
)]
pub(crate) fn scalar_words(c: Ext, s: Ext) -> Vec<u32> {
    let mut words = ext_words(&[c], false);
    words.extend(ext_words(&[s], true));
    words
}

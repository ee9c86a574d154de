//! The seam every compute backend sits behind: [`Backend`], its device-resident
//! [`DeviceMatrix`], and the shape rules all backends share.
//!
//! # The math
//!
//! All transforms act on the columns of a row-major matrix of BabyBear elements
//! (p = 15·2^27 + 1), one polynomial per column:
//!
//! - the forward NTT of a column `c` of height `n = 2^k` is `y_i = Σ_j c_j ω^(ij)` with
//!   `ω = two_adic_generator(k)`, exactly Plonky3's `TwoAdicSubgroupDft::dft_batch`;
//! - the inverse NTT is `c_j = n⁻¹ Σ_i y_i ω^(-ij)` (`idft_batch`);
//! - the coset LDE takes evaluations on the subgroup `H` (height `n`) to evaluations on the
//!   coset `shift·K`, `|K| = n·2^added_bits`: inverse NTT, multiply coefficient `j` by
//!   `shiftʲ`, zero-pad, forward NTT (`coset_lde_batch`). Its output is in **bit-reversed**
//!   row order — the order Plonky3's `Radix2DitParallel` stores it in and the order FRI
//!   commits it in — so no transpose pass is ever needed;
//! - the Merkle tree hashes each row (of all matrices of the tallest height, concatenated)
//!   with the Poseidon2 sponge `PaddingFreeSponge<Perm, 16, 8, 8>` and compresses pairs with
//!   `TruncatedPermutation<Perm, 2, 8, 16>`; shorter matrices join at the level of their
//!   height, exactly as Plonky3's `MerkleTreeMmcs` with arity 2.
//!
//! # The case optimised for
//!
//! Proving: matrices of 2^16–2^24 rows and tens to hundreds of columns that go through
//! LDE → Merkle commit → openings. A [`DeviceMatrix`] stays on its device between those
//! calls; only openings (a few rows and paths) come back to the host.
//!
//! # Which backend to choose
//!
//! - [`CpuBackend`](crate::CpuBackend): always available; delegates to Plonky3
//!   (`Radix2DitParallel`, `MerkleTreeMmcs`), so it is the reference and never slower than
//!   Plonky3. Choose it for small traces (< 2^14 rows), where device launch and transfer
//!   costs dominate, and on machines without an accelerator.
//! - `OpenClBackend` (feature `opencl`): any OpenCL 1.2 device. Choose it for large traces
//!   on a GPU. Under PoCL (OpenCL on the CPU) it is correct but slower than the CPU backend;
//!   it is there for tests and for devices with no other API.
//! - CUDA and Vulkan backends implement this same trait over the same kernel sources
//!   (`zkbox_kernels::SOURCES`), so callers generic over `B: Backend` need no change.

use p3_baby_bear::BabyBear;

use crate::AccelError;
use crate::device::DeviceInfo;
use crate::quotient::{Ext, QuotientInputs, QuotientProgram};

/// log2 of the largest transform BabyBear supports: its multiplicative group has a
/// subgroup of order 2^27 and none larger of power-of-two order.
pub const MAX_LOG_SIZE: usize = 27;

/// A Poseidon2 digest: 8 BabyBear elements.
pub type Digest = [BabyBear; 8];

/// The order of a matrix's rows relative to the natural order of its polynomial's domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowOrder {
    /// Row `i` holds the value at `ωⁱ` (or coefficient `i`).
    Natural,
    /// Row `i` holds what natural order keeps in row `bit_reverse(i)`.
    BitReversed,
}

impl RowOrder {
    /// `"natural"` or `"bit-reversed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RowOrder::Natural => "natural",
            RowOrder::BitReversed => "bit-reversed",
        }
    }
}

/// Which way a transform goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Coefficients to evaluations.
    Forward,
    /// Evaluations to coefficients (scaled by 1/n).
    Inverse,
}

/// A row-major matrix of BabyBear elements resident on a backend's device.
///
/// The buffer holds canonical values (`0 ≤ x < p`) on every GPU backend; the CPU backend
/// holds Plonky3's own representation. The shape and row order travel with the buffer, so
/// every operation can check its input.
#[derive(Debug)]
pub struct DeviceMatrix<B: Backend + ?Sized> {
    pub(crate) buffer: B::Buffer,
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) order: RowOrder,
}

impl<B: Backend + ?Sized> DeviceMatrix<B> {
    /// Number of columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The current row order.
    pub fn order(&self) -> RowOrder {
        self.order
    }

    /// Declares that the rows already are in `order` (e.g. bit-reversed data just
    /// uploaded); no data moves.
    pub fn assume_order(mut self, order: RowOrder) -> Self {
        self.order = order;
        self
    }

    /// Size of the matrix's values in bytes (4 per element).
    pub fn size_bytes(&self) -> u64 {
        (self.width as u64) * (self.height as u64) * 4
    }
}

/// A compute backend: a device, its queue, and the kernels run on it.
///
/// Every method validates its input first and reports bad shapes as typed errors before
/// touching the device. Calls are ordered on the backend's one queue; methods that return
/// host data wait for the work before them.
pub trait Backend: Send + Sync {
    /// Device memory holding one matrix's values.
    type Buffer: Send + Sync;
    /// A Merkle tree whose digest layers stay on the device.
    type MerkleTree: Send + Sync;

    /// What this device is.
    fn info(&self) -> &DeviceInfo;

    /// Copies a row-major matrix (`values.len() = width · height`) to the device.
    fn upload(&self, values: &[BabyBear], width: usize) -> Result<DeviceMatrix<Self>, AccelError>;

    /// [`Backend::upload`], giving the host's values up: where the backend's memory is the
    /// host's ([`Backend::memory_is_host`]) they become the matrix as they are, no copy
    /// made (and fail only for a shape no matrix has).
    fn upload_owned(
        &self,
        values: Vec<BabyBear>,
        width: usize,
    ) -> Result<DeviceMatrix<Self>, AccelError>
    where
        Self: Sized,
    {
        self.upload(&values, width)
    }

    /// Copies a matrix back to the host, rows in the matrix's current order.
    fn download(&self, matrix: &DeviceMatrix<Self>) -> Result<Vec<BabyBear>, AccelError>;

    /// Whether this backend's matrices are host memory (the CPU backend): the host then
    /// takes one over without a copy ([`Backend::download_owned`]), and a caller that keeps
    /// matrices for the host gains nothing by also keeping them "on the device".
    fn memory_is_host(&self) -> bool {
        false
    }

    /// A matrix's values on the host, rows in its current order, giving the matrix up: a
    /// [`Backend::download`] on a device, the values themselves (no copy) where the
    /// backend's memory is the host's.
    fn download_owned(&self, matrix: DeviceMatrix<Self>) -> Result<Vec<BabyBear>, AccelError>
    where
        Self: Sized,
    {
        self.download(&matrix)
    }

    /// Copies `source` over `destination` on the device (same shape; the row order travels).
    fn copy_into(
        &self,
        source: &DeviceMatrix<Self>,
        destination: &mut DeviceMatrix<Self>,
    ) -> Result<(), AccelError>;

    /// Waits until all work queued so far has finished (for timing).
    fn synchronize(&self) -> Result<(), AccelError>;

    /// Batched NTT of every column, in place. The input order is the matrix's current order;
    /// `output` chooses the order the result is left in.
    fn ntt(
        &self,
        matrix: &mut DeviceMatrix<Self>,
        direction: Direction,
        output: RowOrder,
    ) -> Result<(), AccelError>;

    /// Coset low-degree extension of every column (see the module docs): natural-order
    /// evaluations on `H` in, evaluations on `shift·K` out, in bit-reversed order, height
    /// `height << added_bits`.
    fn coset_lde(
        &self,
        evaluations: &DeviceMatrix<Self>,
        added_bits: usize,
        shift: BabyBear,
    ) -> Result<DeviceMatrix<Self>, AccelError>;

    /// [`Backend::coset_lde`], giving the evaluations up: a backend may extend them in
    /// their own memory (the CPU backend does, as Plonky3's DFT does, with no copy).
    fn coset_lde_owned(
        &self,
        evaluations: DeviceMatrix<Self>,
        added_bits: usize,
        shift: BabyBear,
    ) -> Result<DeviceMatrix<Self>, AccelError>
    where
        Self: Sized,
    {
        self.coset_lde(&evaluations, added_bits, shift)
    }

    /// Builds the Poseidon2 Merkle tree whose leaves are the rows of `leaves` (see the module
    /// docs). The tree keeps the matrices, as Plonky3's prover data does, so committing an
    /// LDE costs no copy.
    fn merkle_tree(&self, leaves: Vec<DeviceMatrix<Self>>) -> Result<Self::MerkleTree, AccelError>
    where
        Self: Sized;

    /// Whether [`Backend::tree_leaves`] gives back the matrices a tree was built from (the
    /// device backends): a caller that must read a committed matrix later and has no other
    /// copy of it can then leave it to the tree alone.
    fn keeps_tree_leaves(&self) -> bool {
        false
    }

    /// The matrices `tree` was built from, in the order they were given, where they stay
    /// on the device with it; `None` for a backend whose trees keep no device matrices
    /// (the CPU backend, wrappers of it).
    fn tree_leaves<'a>(&self, tree: &'a Self::MerkleTree) -> Option<&'a [DeviceMatrix<Self>]>
    where
        Self: Sized,
    {
        let _ = tree;
        None
    }

    /// The digests `cap_height` levels below the root (one digest, the root, for 0).
    fn merkle_cap(
        &self,
        tree: &Self::MerkleTree,
        cap_height: usize,
    ) -> Result<Vec<Digest>, AccelError>;

    /// The sibling digests from leaf `index` up to (not including) the root, leaf level first.
    fn merkle_path(&self, tree: &Self::MerkleTree, index: usize)
    -> Result<Vec<Digest>, AccelError>;

    /// Runs one AIR's constraint `program` at every point of the quotient domain (see
    /// [`crate::quotient`]) and returns the quotient values as an `n × 4` matrix of their
    /// extension coefficients, natural row order, left on the device.
    fn evaluate_quotient(
        &self,
        program: &QuotientProgram,
        inputs: &QuotientInputs<'_, Self>,
    ) -> Result<DeviceMatrix<Self>, AccelError>
    where
        Self: Sized;

    /// One arity-2 FRI folding round (see [`crate::fri`]): `values`, an `n × 4` matrix of
    /// extension elements in bit-reversed order (`n ≥ 2` a power of two), becomes the
    /// `n/2 × 4` matrix of `(lo + hi)/2 + (lo − hi)·β·g^(−rev(i))/2`, bit-reversed, left on
    /// the device.
    fn fri_fold(
        &self,
        values: &DeviceMatrix<Self>,
        beta: Ext,
    ) -> Result<DeviceMatrix<Self>, AccelError>
    where
        Self: Sized;

    /// `acc[x] += factor · addend[x]` for every element of two `n × 4` vectors of
    /// extension elements (see [`crate::fri`]), on the device.
    fn fri_add_scaled(
        &self,
        acc: &mut DeviceMatrix<Self>,
        addend: &DeviceMatrix<Self>,
        factor: Ext,
    ) -> Result<(), AccelError>
    where
        Self: Sized;

    /// The same values seen as rows of `width` columns (rows are stored one after another,
    /// so no data moves; the row order label stays). `width` must divide the matrix's
    /// size.
    fn reshape(
        &self,
        matrix: DeviceMatrix<Self>,
        width: usize,
    ) -> Result<DeviceMatrix<Self>, AccelError>
    where
        Self: Sized,
    {
        let (width, height) = reshaped(&matrix, width)?;
        Ok(DeviceMatrix {
            width,
            height,
            ..matrix
        })
    }

    /// Combines each row of `matrix` with `powers`, one per column (see [`crate::deep`]):
    /// the `height × 4` matrix of `Σ_i powers[i]·matrix[x][i]`, rows in the matrix's order,
    /// left on the device.
    fn combine_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        powers: &[Ext],
    ) -> Result<DeviceMatrix<Self>, AccelError>
    where
        Self: Sized;

    /// Adds one DEEP term per row (see [`crate::deep`]):
    /// `acc[x] += (c − s·combined[x])·denominators[x]` for every row `x` of `combined`
    /// (`n × 4`, as `acc`; `denominators` has at least `n` rows, of which the first `n` are
    /// used).
    fn deep_accumulate(
        &self,
        combined: &DeviceMatrix<Self>,
        denominators: &DeviceMatrix<Self>,
        c: Ext,
        s: Ext,
        acc: &mut DeviceMatrix<Self>,
    ) -> Result<(), AccelError>
    where
        Self: Sized;

    /// Every `step`-th row of `matrix` from row `first`: the `height/step × width` matrix of
    /// rows `first, first + step, …`, natural order, left on the device. `matrix` is in
    /// natural order, `first < step` and `step` divides its height. Splitting a chip's
    /// quotient values into their chunks is this (Plonky3's `split_evals`).
    fn strided_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        first: usize,
        step: usize,
    ) -> Result<DeviceMatrix<Self>, AccelError>
    where
        Self: Sized;

    /// Rows `rows` of `matrix` (positions in storage, any order, repeats allowed), one after
    /// the other, copied back to the host: what the openings of a committed matrix read of
    /// it, without the rest crossing back.
    fn gather_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        rows: &[usize],
    ) -> Result<Vec<BabyBear>, AccelError>
    where
        Self: Sized;

    /// `Σ_{r < rows} weights[r]·matrix[r][c]` for every column `c` (see [`crate::deep`]);
    /// `weights` has at least `rows` rows of 4. The sums come back to the host.
    fn column_dot(
        &self,
        matrix: &DeviceMatrix<Self>,
        rows: usize,
        weights: &DeviceMatrix<Self>,
    ) -> Result<Vec<Ext>, AccelError>
    where
        Self: Sized;
}

/// Checks a matrix shape for a transform and returns log2 of its height.
pub(crate) fn transform_log_height(width: usize, height: usize) -> Result<usize, AccelError> {
    if width == 0 || height == 0 {
        return Err(AccelError::EmptyMatrix { width, height });
    }
    if !height.is_power_of_two() {
        return Err(AccelError::HeightNotPowerOfTwo { height });
    }
    let log_height = height.trailing_zeros() as usize;
    check_log_size(log_height)?;
    Ok(log_height)
}

/// Checks that a transform of 2^log_size rows fits BabyBear's two-adic subgroup.
pub(crate) fn check_log_size(log_size: usize) -> Result<(), AccelError> {
    if log_size > MAX_LOG_SIZE {
        return Err(AccelError::SizeBeyondTwoAdicity {
            log_size,
            max_log_size: MAX_LOG_SIZE,
        });
    }
    Ok(())
}

/// Checks the input of a coset LDE (every backend's `coset_lde`): a power-of-two height,
/// natural row order, and an output that fits the two-adic subgroup. Returns
/// `(log_height, log_output_height)`.
pub(crate) fn check_coset_lde_input<B: Backend>(
    evaluations: &DeviceMatrix<B>,
    added_bits: usize,
) -> Result<(usize, usize), AccelError> {
    let log_height = transform_log_height(evaluations.width, evaluations.height)?;
    let log_output = log_height + added_bits;
    check_log_size(log_output)?;
    if evaluations.order != RowOrder::Natural {
        return Err(AccelError::WrongRowOrder {
            operation: "coset LDE",
            expected: RowOrder::Natural.as_str(),
        });
    }
    Ok((log_height, log_output))
}

/// Checks host values form a `width`-column matrix and returns its height.
pub(crate) fn host_matrix_height(len: usize, width: usize) -> Result<usize, AccelError> {
    if width == 0 || len == 0 {
        return Err(AccelError::EmptyMatrix {
            width,
            height: len.checked_div(width).unwrap_or(0),
        });
    }
    if !len.is_multiple_of(width) {
        return Err(AccelError::RaggedMatrix { len, width });
    }
    Ok(len / width)
}

/// The heights a binary Merkle tree can combine: all powers of two; returns the tallest.
pub(crate) fn tree_max_height(heights: &[usize]) -> Result<usize, AccelError> {
    let unsupported = |reason| AccelError::UnsupportedTreeHeights {
        heights: heights.to_vec(),
        reason,
    };
    if heights.is_empty() {
        return Err(unsupported("no matrices given"));
    }
    if heights.iter().any(|h| !h.is_power_of_two()) {
        return Err(unsupported("every height must be a power of two"));
    }
    let max = heights.iter().copied().max().unwrap_or(1);
    check_log_size(max.trailing_zeros() as usize)?;
    Ok(max)
}

/// Checks two matrices have the same shape.
pub(crate) fn check_same_shape<B: Backend + ?Sized>(
    a: &DeviceMatrix<B>,
    b: &DeviceMatrix<B>,
) -> Result<(), AccelError> {
    if (a.width, a.height) != (b.width, b.height) {
        return Err(AccelError::ShapeMismatch {
            detail: format!(
                "{}x{} rows/columns against {}x{}",
                a.height, a.width, b.height, b.width
            ),
        });
    }
    Ok(())
}

/// Checks a [`Backend::strided_rows`] selection and returns its kernel words: width, rows
/// selected, first row, step.
pub(crate) fn strided_rows_words<B: Backend + ?Sized>(
    matrix: &DeviceMatrix<B>,
    first: usize,
    step: usize,
) -> Result<[u32; 4], AccelError> {
    let shape = |detail: String| Err(AccelError::ShapeMismatch { detail });
    if matrix.order != RowOrder::Natural {
        return shape("strided rows are taken from a natural-order matrix".into());
    }
    if step == 0 || first >= step || !matrix.height.is_multiple_of(step) {
        return shape(format!(
            "rows {first}, {first} + {step}, … do not split a height of {}",
            matrix.height
        ));
    }
    if matrix.width == 0 || (matrix.width as u64) * (matrix.height as u64) > u64::from(u32::MAX) {
        return shape(format!(
            "a {}x{} matrix is not indexable by 32-bit words",
            matrix.height, matrix.width
        ));
    }
    Ok([
        matrix.width as u32,
        (matrix.height / step) as u32,
        first as u32,
        step as u32,
    ])
}

/// Checks a [`Backend::gather_rows`] selection and returns the row indices as kernel words
/// with the kernel's words: width, rows selected.
pub(crate) fn gather_rows_words<B: Backend + ?Sized>(
    matrix: &DeviceMatrix<B>,
    rows: &[usize],
) -> Result<(Vec<u32>, [u32; 2]), AccelError> {
    let shape = |detail: String| Err(AccelError::ShapeMismatch { detail });
    if matrix.width == 0 || (matrix.width as u64) * (matrix.height as u64) > u64::from(u32::MAX) {
        return shape(format!(
            "a {}x{} matrix is not indexable by 32-bit words",
            matrix.height, matrix.width
        ));
    }
    if let Some(&row) = rows.iter().find(|&&row| row >= matrix.height) {
        return shape(format!("row {row} of a matrix of height {}", matrix.height));
    }
    if rows.len() > u32::MAX as usize {
        return shape(format!("{} rows at once", rows.len()));
    }
    let indices = rows.iter().map(|&row| row as u32).collect();
    Ok((indices, [matrix.width as u32, rows.len() as u32]))
}

/// The rows [`Backend::gather_rows`] collects on the device before they are copied back, of
/// `words` (from [`gather_rows_words`]).
pub(crate) fn gathered_matrix<B: Backend>(buffer: B::Buffer, words: [u32; 2]) -> DeviceMatrix<B> {
    DeviceMatrix {
        buffer,
        width: words[0] as usize,
        height: words[1] as usize,
        order: RowOrder::Natural,
    }
}

/// The matrix [`Backend::strided_rows`] returns, of `words` (from [`strided_rows_words`]).
pub(crate) fn strided_matrix<B: Backend>(buffer: B::Buffer, words: [u32; 4]) -> DeviceMatrix<B> {
    DeviceMatrix {
        buffer,
        width: words[0] as usize,
        height: words[1] as usize,
        order: RowOrder::Natural,
    }
}

/// The shape [`Backend::reshape`] gives `matrix` at `width` columns.
pub(crate) fn reshaped<B: Backend + ?Sized>(
    matrix: &DeviceMatrix<B>,
    width: usize,
) -> Result<(usize, usize), AccelError> {
    let size = matrix.width * matrix.height;
    if width == 0 || !size.is_multiple_of(width) {
        return Err(AccelError::ShapeMismatch {
            detail: format!(
                "{} values ({}x{}) are not rows of {width}",
                size, matrix.height, matrix.width
            ),
        });
    }
    Ok((width, size / width))
}

/// Checks the bound on a leaf index.
pub(crate) fn check_leaf_index(index: usize, leaves: usize) -> Result<(), AccelError> {
    if index >= leaves {
        return Err(AccelError::LeafIndexOutOfRange { index, leaves });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked_with_typed_errors() {
        assert!(matches!(
            transform_log_height(0, 8),
            Err(AccelError::EmptyMatrix { .. })
        ));
        assert!(matches!(
            transform_log_height(3, 12),
            Err(AccelError::HeightNotPowerOfTwo { height: 12 })
        ));
        assert!(matches!(
            transform_log_height(1, 1 << 28),
            Err(AccelError::SizeBeyondTwoAdicity { log_size: 28, .. })
        ));
        assert_eq!(transform_log_height(5, 1).unwrap(), 0);
        assert!(matches!(
            host_matrix_height(7, 2),
            Err(AccelError::RaggedMatrix { .. })
        ));
        assert!(matches!(
            host_matrix_height(0, 2),
            Err(AccelError::EmptyMatrix { .. })
        ));
        assert!(matches!(
            tree_max_height(&[8, 6]),
            Err(AccelError::UnsupportedTreeHeights { .. })
        ));
        assert_eq!(tree_max_height(&[4, 16, 1]).unwrap(), 16);
    }
}

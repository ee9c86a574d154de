//! The CPU backend: Plonky3's own multi-threaded SIMD code behind the [`Backend`] seam.
//!
//! It delegates NTTs and LDEs to `Radix2DitParallel` and Merkle trees to `MerkleTreeMmcs`,
//! so it is exactly as fast as Plonky3 and is the reference every device backend is tested
//! against.

use p3_baby_bear::BabyBear;
use p3_commit::Mmcs;
use p3_dft::{Radix2DitParallel, TwoAdicSubgroupDft};
use p3_field::BasedVectorSpace;
use p3_matrix::Matrix;
use p3_matrix::bitrev::BitReversibleMatrix;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::util::reverse_matrix_index_bits;
use p3_merkle_tree::MerkleTree;

use crate::AccelError;
use crate::backend::{
    Backend, DeviceMatrix, Digest, Direction, RowOrder, check_coset_lde_input, check_leaf_index,
    check_same_shape, gather_rows_words, host_matrix_height, strided_matrix, strided_rows_words,
    transform_log_height, tree_max_height,
};
use crate::deep::{
    check_accumulate, check_column_dot, check_combine, column_dot_on_host, combine_rows_on_host,
    deep_accumulate_on_host,
};
use crate::device::DeviceInfo;
use crate::fri::{add_scaled_on_host, add_scaled_words, check_fold_input, fold_on_host};
use crate::merkle::{ReferenceMmcs, reference_mmcs};
use crate::quotient::{Ext, QuotientInputs, QuotientProgram, evaluate_on_host};

/// Plonky3's tree over host matrices.
pub type CpuMerkleTree = MerkleTree<BabyBear, BabyBear, RowMajorMatrix<BabyBear>, 2, 8>;

/// The host CPU as a [`Backend`].
#[derive(Clone)]
pub struct CpuBackend {
    info: DeviceInfo,
    dft: Radix2DitParallel<BabyBear>,
    mmcs: ReferenceMmcs,
}

impl std::fmt::Debug for CpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuBackend")
            .field("info", &self.info)
            .finish()
    }
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBackend {
    /// The host CPU, with Plonky3's twiddle caches empty.
    pub fn new() -> Self {
        CpuBackend {
            info: crate::cpu::describe(),
            dft: Radix2DitParallel::default(),
            mmcs: reference_mmcs(0),
        }
    }

    /// The coset LDE of checked `evaluations`, computed in their memory, bit-reversed.
    fn lde_of(
        &self,
        evaluations: RowMajorMatrix<BabyBear>,
        added_bits: usize,
        shift: BabyBear,
    ) -> DeviceMatrix<Self> {
        let lde = self
            .dft
            .coset_lde_batch(evaluations, added_bits, shift)
            .bit_reverse_rows();
        DeviceMatrix {
            height: lde.height(),
            width: lde.width,
            buffer: lde.values,
            order: RowOrder::BitReversed,
        }
    }

    fn take_matrix(matrix: &mut DeviceMatrix<Self>) -> RowMajorMatrix<BabyBear> {
        RowMajorMatrix::new(std::mem::take(&mut matrix.buffer), matrix.width)
    }
}

impl Backend for CpuBackend {
    type Buffer = Vec<BabyBear>;
    type MerkleTree = CpuMerkleTree;

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn upload(&self, values: &[BabyBear], width: usize) -> Result<DeviceMatrix<Self>, AccelError> {
        self.upload_owned(values.to_vec(), width)
    }

    fn upload_owned(
        &self,
        values: Vec<BabyBear>,
        width: usize,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        let height = host_matrix_height(values.len(), width)?;
        Ok(DeviceMatrix {
            buffer: values,
            width,
            height,
            order: RowOrder::Natural,
        })
    }

    fn download(&self, matrix: &DeviceMatrix<Self>) -> Result<Vec<BabyBear>, AccelError> {
        Ok(matrix.buffer.clone())
    }

    fn memory_is_host(&self) -> bool {
        true
    }

    fn download_owned(&self, matrix: DeviceMatrix<Self>) -> Result<Vec<BabyBear>, AccelError> {
        Ok(matrix.buffer)
    }

    fn copy_into(
        &self,
        source: &DeviceMatrix<Self>,
        destination: &mut DeviceMatrix<Self>,
    ) -> Result<(), AccelError> {
        check_same_shape(source, destination)?;
        destination.buffer.copy_from_slice(&source.buffer);
        destination.order = source.order;
        Ok(())
    }

    fn synchronize(&self) -> Result<(), AccelError> {
        Ok(())
    }

    fn ntt(
        &self,
        matrix: &mut DeviceMatrix<Self>,
        direction: Direction,
        output: RowOrder,
    ) -> Result<(), AccelError> {
        transform_log_height(matrix.width, matrix.height)?;
        let mut values = Self::take_matrix(matrix);
        if matrix.order == RowOrder::BitReversed {
            reverse_matrix_index_bits(&mut values);
        }
        let mut result = match (direction, output) {
            (Direction::Forward, RowOrder::BitReversed) => {
                self.dft.dft_batch(values).bit_reverse_rows()
            }
            (Direction::Forward, RowOrder::Natural) => {
                self.dft.dft_batch(values).to_row_major_matrix()
            }
            (Direction::Inverse, _) => self.dft.idft_batch(values),
        };
        if direction == Direction::Inverse && output == RowOrder::BitReversed {
            reverse_matrix_index_bits(&mut result);
        }
        matrix.buffer = result.values;
        matrix.order = output;
        Ok(())
    }

    fn coset_lde(
        &self,
        evaluations: &DeviceMatrix<Self>,
        added_bits: usize,
        shift: BabyBear,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        check_coset_lde_input(evaluations, added_bits)?;
        let input = RowMajorMatrix::new(evaluations.buffer.clone(), evaluations.width);
        Ok(self.lde_of(input, added_bits, shift))
    }

    fn coset_lde_owned(
        &self,
        evaluations: DeviceMatrix<Self>,
        added_bits: usize,
        shift: BabyBear,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        check_coset_lde_input(&evaluations, added_bits)?;
        let input = RowMajorMatrix::new(evaluations.buffer, evaluations.width);
        Ok(self.lde_of(input, added_bits, shift))
    }

    fn merkle_tree(&self, leaves: Vec<DeviceMatrix<Self>>) -> Result<CpuMerkleTree, AccelError> {
        let heights: Vec<usize> = leaves.iter().map(|m| m.height).collect();
        tree_max_height(&heights)?;
        let matrices = leaves
            .into_iter()
            .map(|m| RowMajorMatrix::new(m.buffer, m.width))
            .collect();
        Ok(self.mmcs.commit(matrices).1)
    }

    fn merkle_cap(
        &self,
        tree: &CpuMerkleTree,
        cap_height: usize,
    ) -> Result<Vec<Digest>, AccelError> {
        let cap_height = cap_height.min(tree.num_layers() - 1);
        Ok(tree.cap(cap_height).into_roots())
    }

    fn evaluate_quotient(
        &self,
        program: &QuotientProgram,
        inputs: &QuotientInputs<'_, Self>,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        let n = inputs.check(program)?;
        let values = evaluate_on_host(program, inputs);
        let buffer = values
            .iter()
            .flat_map(|v| v.as_basis_coefficients_slice().iter().copied())
            .collect();
        Ok(crate::quotient::values_matrix(buffer, n))
    }

    fn fri_fold(
        &self,
        values: &DeviceMatrix<Self>,
        beta: Ext,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        let log_half = check_fold_input(values)?;
        Ok(DeviceMatrix {
            buffer: fold_on_host(&values.buffer, log_half, beta),
            width: 4,
            height: 1 << log_half,
            order: RowOrder::BitReversed,
        })
    }

    fn strided_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        first: usize,
        step: usize,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        let words = strided_rows_words(matrix, first, step)?;
        let width = matrix.width;
        let buffer = matrix
            .buffer
            .chunks_exact(width)
            .skip(first)
            .step_by(step)
            .flatten()
            .copied()
            .collect();
        Ok(strided_matrix(buffer, words))
    }

    fn gather_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        rows: &[usize],
    ) -> Result<Vec<BabyBear>, AccelError> {
        gather_rows_words(matrix, rows)?;
        let width = matrix.width;
        Ok(rows
            .iter()
            .flat_map(|&row| &matrix.buffer[row * width..(row + 1) * width])
            .copied()
            .collect())
    }

    fn fri_add_scaled(
        &self,
        acc: &mut DeviceMatrix<Self>,
        addend: &DeviceMatrix<Self>,
        factor: Ext,
    ) -> Result<(), AccelError> {
        add_scaled_words(acc, addend, factor)?;
        add_scaled_on_host(&mut acc.buffer, &addend.buffer, factor);
        Ok(())
    }

    fn combine_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        powers: &[Ext],
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        check_combine(matrix, powers)?;
        Ok(DeviceMatrix {
            buffer: combine_rows_on_host(&matrix.buffer, matrix.width, powers),
            width: 4,
            height: matrix.height,
            order: matrix.order,
        })
    }

    fn deep_accumulate(
        &self,
        combined: &DeviceMatrix<Self>,
        denominators: &DeviceMatrix<Self>,
        c: Ext,
        s: Ext,
        acc: &mut DeviceMatrix<Self>,
    ) -> Result<(), AccelError> {
        check_accumulate(combined, denominators, acc)?;
        deep_accumulate_on_host(
            &combined.buffer,
            &denominators.buffer,
            c,
            s,
            &mut acc.buffer,
        );
        Ok(())
    }

    fn column_dot(
        &self,
        matrix: &DeviceMatrix<Self>,
        rows: usize,
        weights: &DeviceMatrix<Self>,
    ) -> Result<Vec<Ext>, AccelError> {
        check_column_dot(matrix, rows, weights)?;
        Ok(column_dot_on_host(
            &matrix.buffer,
            matrix.width,
            rows,
            &weights.buffer,
        ))
    }

    fn merkle_path(&self, tree: &CpuMerkleTree, index: usize) -> Result<Vec<Digest>, AccelError> {
        check_leaf_index(index, self.mmcs.get_max_height(tree))?;
        Ok(self.mmcs.open_batch(index, tree).opening_proof)
    }
}

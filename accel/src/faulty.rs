//! A backend wrapper that fails on purpose: for testing what callers do when a device
//! fails mid-run.
//!
//! [`FaultyBackend`] forwards every call to the backend it wraps and counts the fallible
//! ones (every method but `info`); from the chosen call on (once, or for good, as a device
//! that fell off the bus would) it returns [`AccelError::DeviceLost`] instead of doing the
//! work. [`Fault::WrongQuotients`], [`Fault::WrongFolds`], [`Fault::WrongOpenings`] and
//! [`Fault::WrongChunks`] instead return wrong values without an error, as a miscompiled
//! kernel or a flipped bit would.
//!
//! Whatever it wraps, its memory counts as a device's (`Backend::memory_is_host` is
//! false), so callers take their device paths, which are the ones under test.

use std::sync::atomic::{AtomicUsize, Ordering};

use p3_baby_bear::BabyBear;
use p3_field::PrimeCharacteristicRing;

use crate::backend::{Backend, DeviceMatrix, Digest, Direction, RowOrder};
use crate::device::DeviceInfo;
use crate::error::AccelError;
use crate::quotient::{Ext, QuotientInputs, QuotientProgram};

/// How a [`FaultyBackend`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Call number `n` (from 0) fails; every other call works.
    Once(usize),
    /// Every call from number `n` on fails: the device is gone.
    From(usize),
    /// No call fails, but every quotient evaluation returns its first value plus one: a
    /// device that computes wrongly and says nothing.
    WrongQuotients,
    /// No call fails, but every FRI folding round returns each of its values plus one: a
    /// wrong value at every position, so every FRI query meets one.
    WrongFolds,
    /// No call fails, but every column sum of an opening (the out-of-domain values) comes
    /// back plus one.
    WrongOpenings,
    /// No call fails, but every row selection (the split of a quotient into its chunks)
    /// returns its first value plus one.
    WrongChunks,
}

/// A backend that fails as its [`Fault`] says and otherwise is the backend it wraps.
#[derive(Debug)]
pub struct FaultyBackend<B: Backend> {
    inner: B,
    fault: Fault,
    calls: AtomicUsize,
    failures: AtomicUsize,
}

impl<B: Backend> FaultyBackend<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, fault: Fault) -> Self {
        FaultyBackend {
            inner,
            fault,
            calls: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
        }
    }

    /// Fallible calls made so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Calls failed on purpose so far, and results (quotients, folds) returned wrong on
    /// purpose.
    pub fn failures(&self) -> usize {
        self.failures.load(Ordering::SeqCst)
    }

    /// `None` when the wrapped matrix has the row order declared on `matrix`; else a copy
    /// of it in the wrapped backend that has (an `assume_order` on the wrapper, as after an
    /// upload of bit-reversed rows, does not reach the wrapped matrix).
    fn with_declared_order(
        &self,
        matrix: &DeviceMatrix<Self>,
    ) -> Result<Option<DeviceMatrix<B>>, AccelError> {
        if matrix.order == matrix.buffer.order {
            return Ok(None);
        }
        let values = self.inner.download(&matrix.buffer)?;
        let copy = self.inner.upload(&values, matrix.width)?;
        Ok(Some(copy.assume_order(matrix.order)))
    }

    /// Counts a call; fails it if the fault says so.
    fn call(&self, operation: &'static str) -> Result<(), AccelError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let fails = match self.fault {
            Fault::Once(at) => n == at,
            Fault::From(at) => n >= at,
            Fault::WrongQuotients
            | Fault::WrongFolds
            | Fault::WrongOpenings
            | Fault::WrongChunks => false,
        };
        if !fails {
            return Ok(());
        }
        self.failures.fetch_add(1, Ordering::SeqCst);
        Err(AccelError::DeviceLost {
            device: self.inner.info().id,
            operation,
            reason: format!("injected fault at call {n}"),
        })
    }

    /// `result` as this backend's, corrupted as [`Fault`] describes if the fault is `wrong`.
    fn corrupt_if(
        &self,
        wrong: Fault,
        result: DeviceMatrix<B>,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        if self.fault != wrong {
            return Ok(Self::outer(result));
        }
        self.failures.fetch_add(1, Ordering::SeqCst);
        let mut values = self.inner.download(&result)?;
        let corrupted = if wrong == Fault::WrongFolds {
            values.len()
        } else {
            1
        };
        for value in values.iter_mut().take(corrupted) {
            *value += BabyBear::ONE;
        }
        let corrupted = self
            .inner
            .upload(&values, result.width())?
            .assume_order(result.order());
        Ok(Self::outer(corrupted))
    }

    /// The wrapped backend's matrix, viewed as this backend's.
    fn outer(matrix: DeviceMatrix<B>) -> DeviceMatrix<Self> {
        DeviceMatrix {
            width: matrix.width,
            height: matrix.height,
            order: matrix.order,
            buffer: matrix,
        }
    }
}

/// The copy [`FaultyBackend::with_declared_order`] made, or else the wrapped matrix.
fn copy_or_inner<'a, B: Backend>(
    copy: &'a Option<DeviceMatrix<B>>,
    matrix: &'a DeviceMatrix<FaultyBackend<B>>,
) -> &'a DeviceMatrix<B> {
    copy.as_ref().unwrap_or(&matrix.buffer)
}

/// A wrapped backend's tree and, where that backend's trees keep their matrices, copies of
/// them as the wrapper's matrices: reads of a tree's matrices then go through the wrapper
/// and meet its faults.
pub struct FaultyTree<B: Backend> {
    inner: B::MerkleTree,
    leaves: Option<Vec<DeviceMatrix<FaultyBackend<B>>>>,
}

impl<B: Backend> Backend for FaultyBackend<B> {
    type Buffer = DeviceMatrix<B>;
    type MerkleTree = FaultyTree<B>;

    fn info(&self) -> &DeviceInfo {
        self.inner.info()
    }

    fn upload(&self, values: &[BabyBear], width: usize) -> Result<DeviceMatrix<Self>, AccelError> {
        self.call("upload")?;
        self.inner.upload(values, width).map(Self::outer)
    }

    fn download(&self, matrix: &DeviceMatrix<Self>) -> Result<Vec<BabyBear>, AccelError> {
        self.call("download")?;
        self.inner.download(&matrix.buffer)
    }

    fn copy_into(
        &self,
        source: &DeviceMatrix<Self>,
        destination: &mut DeviceMatrix<Self>,
    ) -> Result<(), AccelError> {
        self.call("copy")?;
        self.inner
            .copy_into(&source.buffer, &mut destination.buffer)?;
        destination.order = destination.buffer.order;
        Ok(())
    }

    fn synchronize(&self) -> Result<(), AccelError> {
        self.call("synchronize")?;
        self.inner.synchronize()
    }

    fn ntt(
        &self,
        matrix: &mut DeviceMatrix<Self>,
        direction: Direction,
        output: RowOrder,
    ) -> Result<(), AccelError> {
        self.call("ntt")?;
        // The outer order may have been declared with `assume_order`; the inner follows it.
        matrix.buffer.order = matrix.order;
        self.inner.ntt(&mut matrix.buffer, direction, output)?;
        matrix.order = matrix.buffer.order;
        Ok(())
    }

    fn coset_lde(
        &self,
        evaluations: &DeviceMatrix<Self>,
        added_bits: usize,
        shift: BabyBear,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        self.call("coset LDE")?;
        let copy = self.with_declared_order(evaluations)?;
        self.inner
            .coset_lde(copy_or_inner(&copy, evaluations), added_bits, shift)
            .map(Self::outer)
    }

    fn merkle_tree(&self, leaves: Vec<DeviceMatrix<Self>>) -> Result<Self::MerkleTree, AccelError> {
        self.call("Merkle tree")?;
        let leaves = leaves
            .into_iter()
            .map(|m| {
                let mut inner = m.buffer;
                inner.order = m.order;
                inner
            })
            .collect();
        let inner = self.inner.merkle_tree(leaves)?;
        // Copies made past the fault counter: they stand for the tree's own matrices.
        let leaves = match self.inner.tree_leaves(&inner) {
            Some(kept) => Some(
                kept.iter()
                    .map(|m| {
                        let copy = self.inner.upload(&self.inner.download(m)?, m.width)?;
                        Ok(Self::outer(copy.assume_order(m.order)))
                    })
                    .collect::<Result<_, AccelError>>()?,
            ),
            None => None,
        };
        Ok(FaultyTree { inner, leaves })
    }

    fn keeps_tree_leaves(&self) -> bool {
        self.inner.keeps_tree_leaves()
    }

    fn tree_leaves<'a>(&self, tree: &'a FaultyTree<B>) -> Option<&'a [DeviceMatrix<Self>]> {
        tree.leaves.as_deref()
    }

    fn evaluate_quotient(
        &self,
        program: &QuotientProgram,
        inputs: &QuotientInputs<'_, Self>,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        self.call("quotient")?;
        let main = self.with_declared_order(inputs.main)?;
        let preprocessed = match inputs.preprocessed {
            Some(matrix) => self.with_declared_order(matrix)?,
            None => None,
        };
        let permutation = match inputs.permutation {
            Some(matrix) => self.with_declared_order(matrix)?,
            None => None,
        };
        let inner = QuotientInputs {
            rows: inputs.rows,
            main: copy_or_inner(&main, inputs.main),
            preprocessed: inputs.preprocessed.map(|m| copy_or_inner(&preprocessed, m)),
            permutation: inputs.permutation.map(|m| copy_or_inner(&permutation, m)),
            next_step: inputs.next_step,
            selectors: inputs.selectors,
            periodic: inputs.periodic,
            periodic_rows: inputs.periodic_rows,
            public_values: inputs.public_values,
            challenges: inputs.challenges,
            permutation_values: inputs.permutation_values,
            weights: inputs.weights,
        };
        let values = self.inner.evaluate_quotient(program, &inner)?;
        self.corrupt_if(Fault::WrongQuotients, values)
    }

    fn fri_fold(
        &self,
        values: &DeviceMatrix<Self>,
        beta: Ext,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        self.call("FRI fold")?;
        let copy = self.with_declared_order(values)?;
        let folded = self.inner.fri_fold(copy_or_inner(&copy, values), beta)?;
        self.corrupt_if(Fault::WrongFolds, folded)
    }

    fn fri_add_scaled(
        &self,
        acc: &mut DeviceMatrix<Self>,
        addend: &DeviceMatrix<Self>,
        factor: Ext,
    ) -> Result<(), AccelError> {
        self.call("FRI add")?;
        self.inner
            .fri_add_scaled(&mut acc.buffer, &addend.buffer, factor)
    }

    fn reshape(
        &self,
        matrix: DeviceMatrix<Self>,
        width: usize,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        self.call("reshape")?;
        let order = matrix.order;
        let inner = self.inner.reshape(matrix.buffer, width)?;
        Ok(Self::outer(inner).assume_order(order))
    }

    fn combine_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        powers: &[Ext],
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        self.call("combining rows")?;
        // Row by row, so the order declared on the wrapper carries over as it is.
        let combined = self.inner.combine_rows(&matrix.buffer, powers)?;
        Ok(Self::outer(combined).assume_order(matrix.order))
    }

    fn deep_accumulate(
        &self,
        combined: &DeviceMatrix<Self>,
        denominators: &DeviceMatrix<Self>,
        c: Ext,
        s: Ext,
        acc: &mut DeviceMatrix<Self>,
    ) -> Result<(), AccelError> {
        self.call("DEEP step")?;
        self.inner.deep_accumulate(
            &combined.buffer,
            &denominators.buffer,
            c,
            s,
            &mut acc.buffer,
        )
    }

    fn strided_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        first: usize,
        step: usize,
    ) -> Result<DeviceMatrix<Self>, AccelError> {
        self.call("strided rows")?;
        let copy = self.with_declared_order(matrix)?;
        let rows = self
            .inner
            .strided_rows(copy_or_inner(&copy, matrix), first, step)?;
        self.corrupt_if(Fault::WrongChunks, rows)
    }

    fn gather_rows(
        &self,
        matrix: &DeviceMatrix<Self>,
        rows: &[usize],
    ) -> Result<Vec<BabyBear>, AccelError> {
        self.call("gathering rows")?;
        self.inner.gather_rows(&matrix.buffer, rows)
    }

    fn column_dot(
        &self,
        matrix: &DeviceMatrix<Self>,
        rows: usize,
        weights: &DeviceMatrix<Self>,
    ) -> Result<Vec<Ext>, AccelError> {
        self.call("column sums")?;
        let mut sums = self
            .inner
            .column_dot(&matrix.buffer, rows, &weights.buffer)?;
        if self.fault == Fault::WrongOpenings {
            self.failures.fetch_add(1, Ordering::SeqCst);
            sums.iter_mut().for_each(|sum| *sum += Ext::ONE);
        }
        Ok(sums)
    }

    fn merkle_cap(
        &self,
        tree: &Self::MerkleTree,
        cap_height: usize,
    ) -> Result<Vec<Digest>, AccelError> {
        self.call("Merkle cap")?;
        self.inner.merkle_cap(&tree.inner, cap_height)
    }

    fn merkle_path(
        &self,
        tree: &Self::MerkleTree,
        index: usize,
    ) -> Result<Vec<Digest>, AccelError> {
        self.call("Merkle path")?;
        self.inner.merkle_path(&tree.inner, index)
    }
}

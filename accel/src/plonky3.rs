//! Plonky3 adapters: [`DeviceDft`] (a `TwoAdicSubgroupDft`) and [`DeviceMmcs`] (an `Mmcs`)
//! backed by any [`Backend`], so an unmodified Plonky3 prover (`p3-uni-stark`, `p3-fri`)
//! runs its LDEs and Merkle commitments on a device.
//!
//! Both produce exactly what `Radix2DitParallel` and `MerkleTreeMmcs` produce (same values,
//! same row order, same proofs), so proofs are byte-for-byte identical to CPU proofs and are
//! verified by the stock verifier.
//!
//! Plonky3's traits have no error channel. When the device rejects a call (a shape it does
//! not support, memory exhausted, a driver failure) the adapters log a warning and compute
//! the result on the host with Plonky3 instead, so a proof is never wrong and never lost.
//! Only a device that fails *after* committing (reading back an opening) panics, with the
//! device's error.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use p3_baby_bear::BabyBear;
use p3_commit::{BatchOpening, BatchOpeningRef, Mmcs};
use p3_dft::{Radix2DitParallel, TwoAdicSubgroupDft};
use p3_matrix::bitrev::{BitReversalPerm, BitReversedMatrixView, BitReversibleMatrix};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::{Dimensions, Matrix};
use p3_merkle_tree::{MerkleTreeError, PrunedMerklePaths};
use p3_symmetric::MerkleCap;

use crate::AccelError;
use crate::backend::{Backend, DeviceMatrix, Digest, Direction, RowOrder};
use crate::cpu_backend::{CpuBackend, CpuMerkleTree};
use crate::merkle::{ReferenceMmcs, prune_binary_paths, reduced_row_index, reference_mmcs};

/// A `TwoAdicSubgroupDft<BabyBear>` that runs on a [`Backend`].
///
/// Evaluations come back as `BitReversedMatrixView`s over bit-reversed storage, like
/// `Radix2DitParallel`'s, so FRI commits them without reordering. `Default` (which Plonky3
/// requires) has no device and runs Plonky3's `Radix2DitParallel`.
#[derive(Debug)]
pub struct DeviceDft<B: Backend> {
    backend: Option<Arc<B>>,
    host: Radix2DitParallel<BabyBear>,
    fallbacks: Arc<AtomicUsize>,
}

impl<B: Backend> DeviceDft<B> {
    /// A DFT whose transforms run on `backend`.
    pub fn new(backend: Arc<B>) -> Self {
        DeviceDft {
            backend: Some(backend),
            host: Radix2DitParallel::default(),
            fallbacks: Arc::default(),
        }
    }

    /// How many transforms (of this DFT and its clones) the device declined and the host
    /// computed instead.
    pub fn host_fallbacks(&self) -> usize {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Runs `work` on the device; `None` (after a warning) if there is none or it failed.
    fn on_device(
        &self,
        operation: &str,
        work: impl FnOnce(&B) -> Result<Vec<BabyBear>, AccelError>,
    ) -> Option<Vec<BabyBear>> {
        let backend = self.backend.as_ref()?;
        match work(backend) {
            Ok(values) => Some(values),
            Err(err) => {
                tracing::warn!(device = %backend.info().id, %err, "{operation} falls back to the host");
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

impl<B: Backend> Clone for DeviceDft<B> {
    fn clone(&self) -> Self {
        DeviceDft {
            backend: self.backend.clone(),
            host: self.host.clone(),
            fallbacks: self.fallbacks.clone(),
        }
    }
}

impl<B: Backend> Default for DeviceDft<B> {
    fn default() -> Self {
        DeviceDft {
            backend: None,
            host: Radix2DitParallel::default(),
            fallbacks: Arc::default(),
        }
    }
}

fn bit_reversed_view(
    values: Vec<BabyBear>,
    width: usize,
) -> BitReversedMatrixView<RowMajorMatrix<BabyBear>> {
    BitReversalPerm::new_view(RowMajorMatrix::new(values, width))
}

impl<B: Backend + 'static> TwoAdicSubgroupDft<BabyBear> for DeviceDft<B> {
    type Evaluations = BitReversedMatrixView<RowMajorMatrix<BabyBear>>;

    fn dft_batch(&self, mat: RowMajorMatrix<BabyBear>) -> Self::Evaluations {
        let on_device = self.on_device("DFT", |backend| {
            let mut matrix = backend.upload(&mat.values, mat.width)?;
            backend.ntt(&mut matrix, Direction::Forward, RowOrder::BitReversed)?;
            backend.download(&matrix)
        });
        match on_device {
            Some(values) => bit_reversed_view(values, mat.width),
            None => self.host.dft_batch(mat),
        }
    }

    fn idft_batch(&self, mat: RowMajorMatrix<BabyBear>) -> RowMajorMatrix<BabyBear> {
        let on_device = self.on_device("inverse DFT", |backend| {
            let mut matrix = backend.upload(&mat.values, mat.width)?;
            backend.ntt(&mut matrix, Direction::Inverse, RowOrder::Natural)?;
            backend.download(&matrix)
        });
        match on_device {
            Some(values) => RowMajorMatrix::new(values, mat.width),
            None => self.host.idft_batch(mat),
        }
    }

    fn coset_lde_batch(
        &self,
        mat: RowMajorMatrix<BabyBear>,
        added_bits: usize,
        shift: BabyBear,
    ) -> Self::Evaluations {
        // Named like Plonky3's own LDE spans, so stage timings (`zkbox bench prove`) count it.
        let _span = tracing::debug_span!("coset_lde_batch_on_device").entered();
        let on_device = self.on_device("coset LDE", |backend| {
            let evaluations = backend.upload(&mat.values, mat.width)?;
            let lde = backend.coset_lde(&evaluations, added_bits, shift)?;
            backend.download(&lde)
        });
        match on_device {
            Some(values) => bit_reversed_view(values, mat.width),
            None => self.host.coset_lde_batch(mat, added_bits, shift),
        }
    }
}

/// An `Mmcs<BabyBear>` whose Merkle trees are built and kept on a [`Backend`]; commitments
/// and proofs are those of [`ReferenceMmcs`] (`MerkleTreeMmcs` with Poseidon2, arity 2) with
/// the same cap height, which also verifies them.
#[derive(Debug)]
pub struct DeviceMmcs<B: Backend> {
    backend: Arc<B>,
    host: Arc<CpuBackend>,
    reference: ReferenceMmcs,
    cap_height: usize,
    /// The row order [`Mmcs::commit`]'s matrices are declared in on the device.
    commit_order: RowOrder,
    fallbacks: Arc<AtomicUsize>,
}

impl<B: Backend> Clone for DeviceMmcs<B> {
    fn clone(&self) -> Self {
        DeviceMmcs {
            backend: self.backend.clone(),
            host: self.host.clone(),
            reference: self.reference.clone(),
            cap_height: self.cap_height,
            commit_order: self.commit_order,
            fallbacks: self.fallbacks.clone(),
        }
    }
}

impl<B: Backend> DeviceMmcs<B> {
    /// Trees on `backend`, commitments `cap_height` levels below the root (0: the root).
    pub fn new(backend: Arc<B>, cap_height: usize) -> Self {
        DeviceMmcs {
            backend,
            host: Arc::new(CpuBackend::new()),
            reference: reference_mmcs(cap_height),
            cap_height,
            commit_order: RowOrder::Natural,
            fallbacks: Arc::default(),
        }
    }

    /// This MMCS, declaring every matrix committed through [`Mmcs::commit`] to hold its
    /// rows in bit-reversed order on the device, as a two-adic FRI PCS's LDEs and FRI's
    /// round vectors do: [`DeviceMmcs::resident_matrix`] then says `BitReversed` for them,
    /// so they serve as LDEs where they are (a preprocessed commitment made inside
    /// Plonky3, for one).
    pub fn committing_bit_reversed_rows(mut self) -> Self {
        self.commit_order = RowOrder::BitReversed;
        self
    }

    /// How many commitments and LDEs (of this MMCS and its clones) the device declined and
    /// the host computed instead.
    pub fn host_fallbacks(&self) -> usize {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// The backend the trees are built on.
    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// The device copy of committed matrix `index` (in the order it was given to the
    /// commitment), if its tree is on the device, the backend keeps the matrices there and
    /// no path read has failed since. Its row order is the one the device knows: a matrix
    /// committed by [`DeviceMmcs::commit_lde`] is bit-reversed; one committed through
    /// [`Mmcs::commit`] was uploaded as it came and says `Natural`, unless the MMCS was
    /// told otherwise ([`DeviceMmcs::committing_bit_reversed_rows`]).
    pub fn resident_matrix<'a, M>(
        &self,
        data: &'a DeviceProverData<M, B>,
        index: usize,
    ) -> Option<&'a DeviceMatrix<B>> {
        match (&data.tree, data.host_copy.get()) {
            (TreeOn::Device(tree), None) => self.backend.tree_leaves(tree)?.get(index),
            _ => None,
        }
    }

    /// Commits to the coset LDEs of `evaluations` — each a natural-order matrix on a
    /// subgroup with its coset shift — extended by `added_bits`: what `TwoAdicFriPcs::commit`
    /// computes with a [`DeviceDft`] and this MMCS, with the same commitment and prover
    /// data, but each LDE goes from the LDE kernel into the tree where it is. A matrix
    /// crosses to the device once and its LDE comes back once (for the openings), instead
    /// of going up a second time for the tree. An LDE the device declines is computed on
    /// the host and uploaded for the tree; a tree it declines is built on the host.
    pub fn commit_lde(
        &self,
        evaluations: Vec<(RowMajorMatrix<BabyBear>, BabyBear)>,
        added_bits: usize,
    ) -> (
        MerkleCap<BabyBear, Digest>,
        DeviceProverData<RowMajorMatrix<BabyBear>, B>,
    ) {
        let mut host_ldes = Vec::with_capacity(evaluations.len());
        let mut device_ldes = Vec::with_capacity(evaluations.len());
        {
            let _span = tracing::debug_span!("coset_lde_batch_on_device").entered();
            for (matrix, shift) in evaluations {
                let width = matrix.width;
                let on_device = self.backend.upload(&matrix.values, width).and_then(|m| {
                    let lde = self.backend.coset_lde(&m, added_bits, shift)?;
                    let values = self.backend.download(&lde)?;
                    Ok((lde, values))
                });
                match on_device {
                    Ok((lde, values)) => {
                        device_ldes.push(Some(lde));
                        host_ldes.push(RowMajorMatrix::new(values, width));
                    }
                    Err(err) => {
                        tracing::warn!(device = %self.backend.info().id, %err, "coset LDE falls back to the host");
                        self.fallbacks.fetch_add(1, Ordering::Relaxed);
                        let lde = Radix2DitParallel::default()
                            .coset_lde_batch(matrix, added_bits, shift)
                            .bit_reverse_rows()
                            .to_row_major_matrix();
                        device_ldes.push(None);
                        host_ldes.push(lde);
                    }
                }
            }
        }
        self.commit_ldes(host_ldes.into_iter().zip(device_ldes).collect())
    }

    /// Commits to LDEs already computed (bit-reversed rows, as `TwoAdicFriPcs::commit_ldes`
    /// takes them): each the host's copy, for the openings, and the device's copy where
    /// there is one (bit-reversed, of the host copy's shape), which goes into the tree where
    /// it is. An LDE with no such device copy is uploaded; a tree the device declines is
    /// built on the host.
    pub fn commit_ldes(
        &self,
        ldes: Vec<(RowMajorMatrix<BabyBear>, Option<DeviceMatrix<B>>)>,
    ) -> (
        MerkleCap<BabyBear, Digest>,
        DeviceProverData<RowMajorMatrix<BabyBear>, B>,
    ) {
        let _span = tracing::debug_span!("build merkle tree").entered();
        let (host_ldes, device_ldes): (Vec<_>, Vec<_>) = ldes.into_iter().unzip();
        let leaves: Result<Vec<DeviceMatrix<B>>, AccelError> = device_ldes
            .into_iter()
            .zip(&host_ldes)
            .map(|(device, host)| match device {
                Some(lde)
                    if lde.order() == RowOrder::BitReversed
                        && (lde.width(), lde.height()) == (host.width, host.height()) =>
                {
                    Ok(lde)
                }
                _ => Ok(self
                    .backend
                    .upload(&host.values, host.width)?
                    .assume_order(RowOrder::BitReversed)),
            })
            .collect();
        self.commit_leaves(leaves, host_ldes)
    }

    /// Commits to one matrix already on the device (`on_device`, the rows the tree hashes)
    /// whose host copy is `host` (the same values, for the openings), as [`Mmcs::commit`]
    /// of `host` would: FRI's round commitments, whose vectors are folded on the device.
    /// A device copy of another shape is replaced by an upload of the host's.
    pub fn commit_on_device<M: Matrix<BabyBear>>(
        &self,
        on_device: DeviceMatrix<B>,
        host: M,
    ) -> (MerkleCap<BabyBear, Digest>, DeviceProverData<M, B>) {
        let _span = tracing::debug_span!("build merkle tree").entered();
        let leaves = if (on_device.width(), on_device.height()) == (host.width(), host.height()) {
            Ok(vec![on_device])
        } else {
            self.upload_committed(std::slice::from_ref(&host))
        };
        self.commit_leaves(leaves, vec![host])
    }

    /// Copies `inputs`, matrices committed as [`Mmcs::commit`] takes them, to the device,
    /// declared in the order this MMCS commits rows in.
    fn upload_committed<M: Matrix<BabyBear>>(
        &self,
        inputs: &[M],
    ) -> Result<Vec<DeviceMatrix<B>>, AccelError> {
        Ok(upload_all(&*self.backend, inputs)?
            .into_iter()
            .map(|m| m.assume_order(self.commit_order))
            .collect())
    }

    /// The commitment to `inputs`, whose device copies are `on_device`: a tree on the
    /// device, or on the host if the device failed the copies or the tree.
    fn commit_leaves<M: Matrix<BabyBear>>(
        &self,
        on_device: Result<Vec<DeviceMatrix<B>>, AccelError>,
        inputs: Vec<M>,
    ) -> (MerkleCap<BabyBear, Digest>, DeviceProverData<M, B>) {
        let max_height = inputs.iter().map(|m| m.height()).max().unwrap_or(0);
        let (tree, cap) = match on_device
            .and_then(|leaves| self.backend.merkle_tree(leaves))
            .and_then(|tree| {
                let cap = self.backend.merkle_cap(&tree, self.cap_height)?;
                Ok((tree, cap))
            }) {
            Ok((tree, cap)) => (TreeOn::Device(tree), cap),
            Err(err) => {
                tracing::warn!(device = %self.backend.info().id, %err, "Merkle commit falls back to the host");
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                let tree = upload_all(&*self.host, &inputs)
                    .and_then(|matrices| self.host.merkle_tree(matrices))
                    .unwrap_or_else(|err| panic!("cannot commit to these matrices: {err}"));
                let cap = self
                    .host
                    .merkle_cap(&tree, self.cap_height)
                    .unwrap_or_else(|err| panic!("cannot read the Merkle cap: {err}"));
                (TreeOn::Host(tree), cap)
            }
        };
        let data = DeviceProverData {
            leaves: inputs,
            tree,
            max_height,
            host_copy: std::sync::OnceLock::new(),
        };
        (MerkleCap::new(cap), data)
    }

    /// Sibling path of leaf `index`, leaf level first, up to (not including) the root. A
    /// device that fails to read a path hands the tree to the host, which rebuilds it from
    /// the committed matrices once (the same tree, so the same path) and answers this and
    /// every later path of the commitment.
    fn full_path<M: Matrix<BabyBear>>(
        &self,
        data: &DeviceProverData<M, B>,
        index: usize,
    ) -> Result<Vec<Digest>, AccelError> {
        let host_path = |tree: &CpuMerkleTree| self.host.merkle_path(tree, index);
        match (&data.tree, data.host_copy.get()) {
            (TreeOn::Host(tree), _) | (TreeOn::Device(_), Some(tree)) => host_path(tree),
            (TreeOn::Device(tree), None) => match self.backend.merkle_path(tree, index) {
                Ok(path) => Ok(path),
                Err(err) => {
                    tracing::warn!(device = %self.backend.info().id, %err, "Merkle path falls back to the host");
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    let tree = upload_all(&*self.host, &data.leaves)
                        .and_then(|matrices| self.host.merkle_tree(matrices))?;
                    host_path(data.host_copy.get_or_init(|| tree))
                }
            },
        }
    }

    /// Tree levels a proof covers: all but the cap.
    fn proof_levels<M>(&self, data: &DeviceProverData<M, B>) -> usize {
        let depth = data.max_height.trailing_zeros() as usize;
        depth - self.cap_height.min(depth)
    }

    fn opened_rows<M: Matrix<BabyBear>>(
        data: &DeviceProverData<M, B>,
        index: usize,
    ) -> Vec<Vec<BabyBear>> {
        data.leaves
            .iter()
            .map(|matrix| {
                let row = reduced_row_index(index, data.max_height, matrix.height());
                matrix
                    .row(row)
                    .map(|r| r.into_iter().collect())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// Copies host matrices of any Plonky3 matrix type to a backend.
fn upload_all<B: Backend>(
    backend: &B,
    inputs: &[impl Matrix<BabyBear>],
) -> Result<Vec<DeviceMatrix<B>>, AccelError> {
    inputs
        .iter()
        .map(|m| {
            let values: Vec<BabyBear> = m.rows().flatten().collect();
            backend.upload(&values, m.width())
        })
        .collect()
}

/// Where a committed tree lives.
enum TreeOn<B: Backend> {
    Device(B::MerkleTree),
    Host(CpuMerkleTree),
}

/// What [`DeviceMmcs`] keeps of a commitment: the host matrices (for opening rows) and the
/// tree, on the device unless the device declined it.
pub struct DeviceProverData<M, B: Backend> {
    leaves: Vec<M>,
    tree: TreeOn<B>,
    max_height: usize,
    /// The host's rebuild of a device tree whose device failed to read a path.
    host_copy: std::sync::OnceLock<CpuMerkleTree>,
}

impl<B: Backend + 'static> Mmcs<BabyBear> for DeviceMmcs<B> {
    type ProverData<M> = DeviceProverData<M, B>;
    type Commitment = MerkleCap<BabyBear, Digest>;
    type Proof = Vec<Digest>;
    type MultiProof = PrunedMerklePaths<BabyBear, 8>;
    type Error = MerkleTreeError;

    fn commit<M: Matrix<BabyBear>>(
        &self,
        inputs: Vec<M>,
    ) -> (Self::Commitment, Self::ProverData<M>) {
        // Named like Plonky3's own Merkle span, so stage timings count it (upload included).
        let _span = tracing::debug_span!("build merkle tree").entered();
        let on_device = self.upload_committed(&inputs);
        self.commit_leaves(on_device, inputs)
    }

    fn open_batch<M: Matrix<BabyBear>>(
        &self,
        index: usize,
        prover_data: &Self::ProverData<M>,
    ) -> BatchOpening<BabyBear, Self> {
        let mut path = self
            .full_path(prover_data, index)
            .unwrap_or_else(|err| panic!("reading Merkle path {index}: {err}"));
        path.truncate(self.proof_levels(prover_data));
        BatchOpening::new(Self::opened_rows(prover_data, index), path)
    }

    fn get_matrices<'a, M: Matrix<BabyBear>>(
        &self,
        prover_data: &'a Self::ProverData<M>,
    ) -> Vec<&'a M> {
        prover_data.leaves.iter().collect()
    }

    fn verify_batch(
        &self,
        commit: &Self::Commitment,
        dimensions: &[Dimensions],
        index: usize,
        batch_opening: BatchOpeningRef<'_, BabyBear, Self>,
    ) -> Result<(), Self::Error> {
        let (opened_values, proof) = batch_opening.unpack();
        self.reference.verify_batch(
            commit,
            dimensions,
            index,
            BatchOpeningRef::new(opened_values, proof),
        )
    }

    fn open_multi_batch<M: Matrix<BabyBear>>(
        &self,
        indices: &[usize],
        prover_data: &Self::ProverData<M>,
    ) -> (Vec<Vec<Vec<BabyBear>>>, Self::MultiProof) {
        let opened = indices
            .iter()
            .map(|&index| Self::opened_rows(prover_data, index))
            .collect();
        let proof = prune_binary_paths(indices, self.proof_levels(prover_data), |leaf| {
            self.full_path(prover_data, leaf)
        })
        .unwrap_or_else(|err| panic!("reading Merkle paths: {err}"));
        (opened, proof)
    }

    fn verify_multi_batch<R: AsRef<[BabyBear]> + PartialEq>(
        &self,
        commit: &Self::Commitment,
        dimensions: &[Dimensions],
        indices: &[usize],
        opened_values: &[Vec<R>],
        proof: &Self::MultiProof,
    ) -> Result<(), Self::Error> {
        self.reference
            .verify_multi_batch(commit, dimensions, indices, opened_values, proof)
    }
}

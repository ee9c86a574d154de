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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use p3_baby_bear::BabyBear;
use p3_commit::{BatchOpening, BatchOpeningRef, Mmcs};
use p3_dft::{Radix2DitParallel, TwoAdicSubgroupDft};
use p3_matrix::bitrev::{BitReversalPerm, BitReversedMatrixView, BitReversibleMatrix};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::{Dimensions, Matrix};
use p3_merkle_tree::{MerkleTreeError, PrunedMerklePaths};
use p3_symmetric::MerkleCap;

use crate::AccelError;
use crate::backend::{Backend, DeviceMatrix, Digest, Direction, RowOrder, check_leaf_index};
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
            backend.download_owned(matrix)
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
            backend.download_owned(matrix)
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
        let width = mat.width;
        if self.backend.as_ref().is_some_and(|b| b.memory_is_host()) {
            // In the host's memory the matrix becomes its LDE where it is, as in Plonky3's
            // own DFT; a shape the backend refuses, the host cannot extend either.
            let lde = self.on_device("coset LDE", |backend| {
                let evaluations = backend.upload_owned(mat.values, width)?;
                let lde = backend.coset_lde_owned(evaluations, added_bits, shift)?;
                backend.download_owned(lde)
            });
            let lde = lde.expect("a coset LDE within the field's two-adicity");
            return bit_reversed_view(lde, width);
        }
        let on_device = self.on_device("coset LDE", |backend| {
            let evaluations = backend.upload(&mat.values, width)?;
            let lde = backend.coset_lde(&evaluations, added_bits, shift)?;
            backend.download_owned(lde)
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
///
/// A matrix the device made ([`DeviceMmcs::commit_lde`], [`DeviceMmcs::commit_ldes`],
/// [`DeviceMmcs::commit_on_device`]) stays in its tree on the device alone: an opening
/// brings back only the rows it opens (`Backend::gather_rows`), and the whole matrix
/// crosses back only if the host needs all of it ([`Mmcs::get_matrices`], for a step the
/// device did not take). If the device fails while it alone holds a committed matrix, the
/// proof cannot go on: the MMCS panics with a [`DeviceFailure`] payload, which the prover
/// turns into a device error (the job can be retried on another device).
///
/// On a backend whose memory is the host's (accel's CPU backend), the trees are Plonky3's
/// on the host and own the committed matrices, the backend's LDEs taken over without a
/// copy: one copy of each matrix, as on Plonky3's own path.
#[derive(Debug)]
pub struct DeviceMmcs<B: Backend> {
    backend: Arc<B>,
    host: Arc<CpuBackend>,
    reference: ReferenceMmcs,
    cap_height: usize,
    /// The row order [`Mmcs::commit`]'s matrices are declared in on the device.
    commit_order: RowOrder,
    fallbacks: Arc<AtomicUsize>,
    downloads: Arc<AtomicUsize>,
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
            downloads: self.downloads.clone(),
        }
    }
}

/// The panic payload of a [`DeviceMmcs`] whose device failed while it alone held a
/// committed matrix: nothing of the proof can be trusted or finished, and the job can be
/// retried on another device.
#[derive(Debug)]
pub struct DeviceFailure {
    /// The device.
    pub device: crate::DeviceId,
    /// What failed.
    pub source: AccelError,
}

impl DeviceFailure {
    /// Ends the proof (logging why): `device` failed with `source` while it alone held
    /// data the proof needs.
    pub fn raise(device: crate::DeviceId, source: AccelError) -> ! {
        tracing::error!(%device, err = %source, "the device failed holding the only copy of proof data");
        std::panic::panic_any(DeviceFailure { device, source })
    }
}

/// A matrix to commit: the host's copy (uploaded for the tree), or the device's alone
/// (bit-reversed rows, as LDEs are committed), which goes into the tree where it is.
pub enum Lde<B: Backend> {
    /// On the host.
    Host(RowMajorMatrix<BabyBear>),
    /// On the device only.
    Device(DeviceMatrix<B>),
}

impl<B: Backend> Lde<B> {
    /// Its number of rows, wherever it is.
    pub fn height(&self) -> usize {
        match self {
            Lde::Host(host) => host.height(),
            Lde::Device(on_device) => on_device.height(),
        }
    }
}

/// Builds a host matrix of a committed matrix's values (row-major) and width.
type ToHost<M> = fn(Vec<BabyBear>, usize) -> M;

/// One matrix going into a tree: its host copy, its device copy, or both.
struct Pending<M, B: Backend> {
    host: Option<M>,
    device: Option<DeviceMatrix<B>>,
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
            downloads: Arc::default(),
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

    /// How many committed matrices (of this MMCS and its clones) that only the device held
    /// came back to the host whole, because a step on the host needed all of it.
    pub fn matrices_downloaded(&self) -> usize {
        self.downloads.load(Ordering::Relaxed)
    }

    /// The backend the trees are built on.
    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// The shape of each committed matrix of `data`, in commitment order, read without
    /// bringing any matrix back from the device.
    pub fn dimensions<M>(&self, data: &DeviceProverData<M, B>) -> Vec<Dimensions> {
        data.leaves.iter().map(|leaf| leaf.dimensions).collect()
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
        match (&data.tree, data.host_tree.get()) {
            (TreeOn::Device(tree), None) => self.backend.tree_leaves(tree)?.get(index),
            _ => None,
        }
    }

    /// Commits to the coset LDEs of `evaluations` — each a natural-order matrix on a
    /// subgroup with its coset shift — extended by `added_bits`: what `TwoAdicFriPcs::commit`
    /// computes with a [`DeviceDft`] and this MMCS, with the same commitment and prover
    /// data, but each LDE goes from the LDE kernel into the tree and stays there: a matrix
    /// crosses to the device once and only its opened rows come back. An LDE the device
    /// declines is computed on the host and uploaded for the tree; if the tree fails, the
    /// host computes every LDE again from `evaluations` and builds the tree itself. A
    /// backend whose memory is the host's takes `evaluations` over without a copy, and its
    /// LDEs go into the host's tree as they are.
    pub fn commit_lde(
        &self,
        evaluations: Vec<(RowMajorMatrix<BabyBear>, BabyBear)>,
        added_bits: usize,
    ) -> (
        MerkleCap<BabyBear, Digest>,
        DeviceProverData<RowMajorMatrix<BabyBear>, B>,
    ) {
        let host_lde = |matrix: RowMajorMatrix<BabyBear>, shift: BabyBear| {
            Radix2DitParallel::default()
                .coset_lde_batch(matrix, added_bits, shift)
                .bit_reverse_rows()
                .to_row_major_matrix()
        };
        // A device can lose its tree, and every LDE in it, so the host keeps the evaluations
        // until the commitment is made, to compute the LDEs again; a backend whose memory is
        // the host's takes them over as they are (nothing to lose, no copy).
        let keep = !self.backend.memory_is_host();
        let mut kept = Vec::new();
        let pending = {
            let _span = tracing::debug_span!("coset_lde_batch_on_device").entered();
            evaluations
                .into_iter()
                .map(|(matrix, shift)| {
                    let width = matrix.width;
                    if !keep {
                        // In the host's memory the evaluations become their LDE where they
                        // are; a shape the backend refuses, the host cannot extend either.
                        let lde = self
                            .backend
                            .upload_owned(matrix.values, width)
                            .and_then(|m| self.backend.coset_lde_owned(m, added_bits, shift));
                        return match lde {
                            Ok(lde) => Pending {
                                host: None,
                                device: Some(lde),
                            },
                            Err(err) => DeviceFailure::raise(self.backend.info().id, err),
                        };
                    }
                    let on_device = self
                        .backend
                        .upload(&matrix.values, width)
                        .and_then(|m| self.backend.coset_lde(&m, added_bits, shift));
                    let pending = match on_device {
                        Ok(lde) => Pending {
                            host: None,
                            device: Some(lde),
                        },
                        Err(err) => {
                            tracing::warn!(device = %self.backend.info().id, %err, "coset LDE falls back to the host");
                            self.fallbacks.fetch_add(1, Ordering::Relaxed);
                            Pending {
                                host: Some(host_lde(matrix.clone(), shift)),
                                device: None,
                            }
                        }
                    };
                    kept.push((matrix, shift));
                    pending
                })
                .collect()
        };
        let _span = tracing::debug_span!("build merkle tree").entered();
        self.commit_pending(pending, Some(RowMajorMatrix::new), &|index| {
            let (matrix, shift) = kept.get(index)?;
            Some(host_lde(matrix.clone(), *shift))
        })
    }

    /// Commits to LDEs already computed (bit-reversed rows, as `TwoAdicFriPcs::commit_ldes`
    /// takes them), each on the host or on the device (see [`Lde`]). A host LDE is
    /// uploaded for the tree; a tree the device declines is built on the host, with the
    /// device's LDEs brought back if it still has them.
    pub fn commit_ldes(
        &self,
        ldes: Vec<Lde<B>>,
    ) -> (
        MerkleCap<BabyBear, Digest>,
        DeviceProverData<RowMajorMatrix<BabyBear>, B>,
    ) {
        let _span = tracing::debug_span!("build merkle tree").entered();
        let pending = ldes
            .into_iter()
            .map(|lde| match lde {
                Lde::Host(host) => Pending {
                    host: Some(host),
                    device: None,
                },
                Lde::Device(on_device) => Pending {
                    host: None,
                    device: Some(on_device.assume_order(RowOrder::BitReversed)),
                },
            })
            .collect();
        self.commit_pending(pending, Some(RowMajorMatrix::new), &|_| None)
    }

    /// Commits to one matrix on the device alone (`on_device`, the rows the tree hashes),
    /// as [`Mmcs::commit`] of the same values would: FRI's round commitments, whose
    /// vectors are folded on the device. `to_host` makes the host's matrix type of its
    /// values, for when the host needs it whole.
    pub fn commit_on_device<M: Matrix<BabyBear>>(
        &self,
        on_device: DeviceMatrix<B>,
        to_host: ToHost<M>,
    ) -> (MerkleCap<BabyBear, Digest>, DeviceProverData<M, B>) {
        let _span = tracing::debug_span!("build merkle tree").entered();
        let pending = vec![Pending {
            host: None,
            device: Some(on_device),
        }];
        self.commit_pending(pending, Some(to_host), &|_| None)
    }

    /// The commitment to `pending`: a tree on the device, with each matrix there (uploaded
    /// if only the host had it); or, if the device fails or its memory is the host's
    /// ([`Backend::memory_is_host`]), Plonky3's tree on the host, owning the host's
    /// matrices: each matrix only the device had is brought back (taken over where it is
    /// host memory), or else recomputed by `rescue`. A device that fails holding a matrix
    /// neither can give back ends the proof ([`DeviceFailure`]).
    fn commit_pending<M: Matrix<BabyBear>>(
        &self,
        pending: Vec<Pending<M, B>>,
        to_host: Option<ToHost<M>>,
        rescue: &dyn Fn(usize) -> Option<M>,
    ) -> (MerkleCap<BabyBear, Digest>, DeviceProverData<M, B>) {
        let dimensions: Vec<Dimensions> = pending
            .iter()
            .map(|p| match (&p.host, &p.device) {
                (Some(host), _) => host.dimensions(),
                (None, Some(device)) => Dimensions {
                    width: device.width(),
                    height: device.height(),
                },
                (None, None) => unreachable!("a pending matrix has a copy somewhere"),
            })
            .collect();
        let (mut hosts, mut devices): (Vec<Option<M>>, Vec<Option<DeviceMatrix<B>>>) =
            pending.into_iter().map(|p| (p.host, p.device)).unzip();
        let on_device = if self.backend.memory_is_host() {
            None
        } else {
            let built = self
                .device_tree(&mut hosts, &mut devices, to_host)
                .and_then(|tree| {
                    let cap = self.backend.merkle_cap(&tree, self.cap_height)?;
                    Ok((tree, cap))
                });
            Some(built.map_err(|err| {
                tracing::warn!(device = %self.backend.info().id, %err, "Merkle commit falls back to the host");
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                err
            }))
        };
        let (tree, cap, hosts) = match on_device {
            Some(Ok((tree, cap))) => (TreeOn::Device(tree), cap, hosts),
            on_host => {
                let failure = on_host.and_then(Result::err);
                let matrices = self.bring_to_host(hosts, devices, to_host, rescue, failure);
                let (tree, cap) = self.host_tree(matrices);
                (TreeOn::Host(tree), cap, Vec::new())
            }
        };
        let max_height = dimensions.iter().map(|d| d.height).max().unwrap_or(0);
        let mut hosts = hosts.into_iter();
        let leaves = dimensions
            .into_iter()
            .map(|dimensions| Leaf {
                dimensions,
                host: hosts
                    .next()
                    .flatten()
                    .map(OnceLock::from)
                    .unwrap_or_default(),
            })
            .collect();
        let data = DeviceProverData {
            leaves,
            tree,
            max_height,
            host_tree: OnceLock::new(),
            to_host,
        };
        (MerkleCap::new(cap), data)
    }

    /// Every matrix of a commitment on the host, for the host's tree: the host's own, or
    /// the device's brought back ([`Backend::download_owned`]: the device copy is given up), or
    /// else recomputed by `rescue`. A matrix none of these yields ends the proof with a
    /// [`DeviceFailure`] carrying `failure` (the device's error that sent the tree to the
    /// host) or the error of bringing it back.
    fn bring_to_host<M: Matrix<BabyBear>>(
        &self,
        hosts: Vec<Option<M>>,
        devices: Vec<Option<DeviceMatrix<B>>>,
        to_host: Option<ToHost<M>>,
        rescue: &dyn Fn(usize) -> Option<M>,
        failure: Option<AccelError>,
    ) -> Vec<M> {
        let mut failure = failure;
        hosts
            .into_iter()
            .zip(devices)
            .enumerate()
            .map(|(index, (host, device))| {
                if let Some(host) = host {
                    return host;
                }
                let back = device.zip(to_host).and_then(|(device, to_host)| {
                    let width = device.width();
                    match self.backend.download_owned(device) {
                        Ok(values) => Some(to_host(values, width)),
                        Err(err) => {
                            failure.get_or_insert(err);
                            None
                        }
                    }
                });
                back.or_else(|| rescue(index)).unwrap_or_else(|| {
                    let source = failure.take().unwrap_or(AccelError::DeviceLost {
                        device: self.backend.info().id,
                        operation: "commit",
                        reason: "a committed matrix has no copy left".into(),
                    });
                    DeviceFailure::raise(self.backend.info().id, source)
                })
            })
            .collect()
    }

    /// The tree of `devices` on the device, each matrix only the host has (`hosts`)
    /// uploaded first. A backend whose trees keep no matrices first brings back those only
    /// it has (`to_host`). On an error before the tree, `devices` still holds what the
    /// device had.
    fn device_tree<M: Matrix<BabyBear>>(
        &self,
        hosts: &mut [Option<M>],
        devices: &mut [Option<DeviceMatrix<B>>],
        to_host: Option<ToHost<M>>,
    ) -> Result<B::MerkleTree, AccelError> {
        for (host, device) in hosts.iter_mut().zip(devices.iter_mut()) {
            match (host, device) {
                (Some(host), device @ None) => {
                    let values: Vec<BabyBear> = host.rows().flatten().collect();
                    let uploaded = self.backend.upload(&values, host.width())?;
                    *device = Some(uploaded.assume_order(self.commit_order));
                }
                (host @ None, Some(device)) if !self.backend.keeps_tree_leaves() => {
                    let to_host = to_host.expect("a way back for matrices on the device");
                    *host = Some(to_host(self.backend.download(device)?, device.width()));
                }
                _ => {}
            }
        }
        let leaves = devices
            .iter_mut()
            .map(|d| d.take())
            .collect::<Option<Vec<_>>>();
        self.backend
            .merkle_tree(leaves.expect("every matrix is on the device"))
    }

    /// Plonky3's tree on the host, owning `matrices` (no copy), and its cap.
    fn host_tree<M: Matrix<BabyBear>>(&self, matrices: Vec<M>) -> (HostTree<M>, Vec<Digest>) {
        let (cap, tree) = self.reference.commit(matrices);
        (tree, cap.into_roots())
    }

    /// The host's copy of committed matrix `index`: the host tree's, the one it has, or the
    /// device's brought back (once; counted).
    fn host_matrix<'a, M: Matrix<BabyBear>>(
        &self,
        data: &'a DeviceProverData<M, B>,
        index: usize,
    ) -> &'a M {
        let tree = match &data.tree {
            TreeOn::Host(tree) => return self.reference.get_matrices(tree)[index],
            TreeOn::Device(tree) => tree,
        };
        data.leaves[index].host.get_or_init(|| {
            let device = self
                .backend
                .tree_leaves(tree)
                .and_then(|leaves| leaves.get(index))
                .expect("a matrix without a host copy stays in its device tree");
            let to_host = data.to_host.expect("a way back for matrices on the device");
            match self.backend.download(device) {
                Ok(values) => {
                    self.downloads.fetch_add(1, Ordering::Relaxed);
                    to_host(values, device.width())
                }
                Err(err) => DeviceFailure::raise(self.backend.info().id, err),
            }
        })
    }

    /// Every committed matrix of `data` on the host.
    fn host_matrices<'a, M: Matrix<BabyBear>>(
        &self,
        data: &'a DeviceProverData<M, B>,
    ) -> Vec<&'a M> {
        if let TreeOn::Host(tree) = &data.tree {
            return self.reference.get_matrices(tree);
        }
        (0..data.leaves.len())
            .map(|index| self.host_matrix(data, index))
            .collect()
    }

    /// Sibling path of leaf `index`, leaf level first, at least as far up as a proof goes
    /// (the host's own tree stops below the cap; a device's goes up to, not including, the
    /// root). A device that fails to read a path hands the tree to the host, which rebuilds
    /// it from the committed matrices once (the same tree, so the same path) and answers
    /// this and every later path of the commitment.
    fn full_path<M: Matrix<BabyBear>>(
        &self,
        data: &DeviceProverData<M, B>,
        index: usize,
    ) -> Result<Vec<Digest>, AccelError> {
        let host_path = |tree: &CpuMerkleTree| self.host.merkle_path(tree, index);
        match (&data.tree, data.host_tree.get()) {
            (TreeOn::Host(tree), _) => {
                check_leaf_index(index, data.max_height)?;
                Ok(self.reference.open_batch(index, tree).opening_proof)
            }
            (TreeOn::Device(_), Some(tree)) => host_path(tree),
            (TreeOn::Device(tree), None) => match self.backend.merkle_path(tree, index) {
                Ok(path) => Ok(path),
                Err(err) => {
                    tracing::warn!(device = %self.backend.info().id, %err, "Merkle path falls back to the host");
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    let matrices = self.host_matrices(data);
                    let tree = upload_all(&*self.host, matrices)
                        .and_then(|matrices| self.host.merkle_tree(matrices))?;
                    host_path(data.host_tree.get_or_init(|| tree))
                }
            },
        }
    }

    /// Tree levels a proof covers: all but the cap.
    fn proof_levels<M>(&self, data: &DeviceProverData<M, B>) -> usize {
        let depth = data.max_height.trailing_zeros() as usize;
        depth - self.cap_height.min(depth)
    }

    /// The rows leaf `index` opens, per query index in `indices` and committed matrix: from
    /// the host's copy where there is one, else gathered on the device (the whole matrix
    /// brought back if that fails).
    fn opened_rows<M: Matrix<BabyBear>>(
        &self,
        data: &DeviceProverData<M, B>,
        indices: &[usize],
    ) -> Vec<Vec<Vec<BabyBear>>> {
        let mut opened: Vec<Vec<Vec<BabyBear>>> =
            vec![Vec::with_capacity(data.leaves.len()); indices.len()];
        for (matrix, leaf) in data.leaves.iter().enumerate() {
            let Dimensions { width, height } = leaf.dimensions;
            let rows: Vec<usize> = indices
                .iter()
                .map(|&index| reduced_row_index(index, data.max_height, height))
                .collect();
            let gathered = match (leaf.host.get(), self.resident_matrix(data, matrix)) {
                (None, Some(device)) => self
                    .backend
                    .gather_rows(device, &rows)
                    .inspect_err(|err| {
                        tracing::warn!(device = %self.backend.info().id, %err, "reading opened rows falls back to the host");
                        self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    })
                    .ok(),
                _ => None,
            };
            match gathered {
                Some(values) if width > 0 => {
                    for (opened, row) in opened.iter_mut().zip(values.chunks_exact(width)) {
                        opened.push(row.to_vec());
                    }
                }
                _ => {
                    let host = self.host_matrix(data, matrix);
                    for (opened, &row) in opened.iter_mut().zip(&rows) {
                        let values = host.row(row).map(|r| r.into_iter().collect());
                        opened.push(values.unwrap_or_default());
                    }
                }
            }
        }
        opened
    }
}

/// Copies host matrices of any Plonky3 matrix type to a backend.
fn upload_all<'m, B: Backend, M: Matrix<BabyBear> + 'm>(
    backend: &B,
    inputs: impl IntoIterator<Item = &'m M>,
) -> Result<Vec<DeviceMatrix<B>>, AccelError> {
    inputs
        .into_iter()
        .map(|m| {
            let values: Vec<BabyBear> = m.rows().flatten().collect();
            backend.upload(&values, m.width())
        })
        .collect()
}

/// Plonky3's tree on the host, owning the committed matrices, as Plonky3's prover data does.
type HostTree<M> = <ReferenceMmcs as Mmcs<BabyBear>>::ProverData<M>;

/// Where a committed tree lives.
enum TreeOn<M, B: Backend> {
    /// On the device; each matrix there too if the backend keeps them.
    Device(B::MerkleTree),
    /// On the host, holding the host's only copy of each matrix.
    Host(HostTree<M>),
}

/// One committed matrix of a [`DeviceProverData`]: its shape, and, beside a device tree,
/// the host's copy once there is one (given to the commitment, or brought back from the
/// device).
struct Leaf<M> {
    dimensions: Dimensions,
    host: OnceLock<M>,
}

/// What [`DeviceMmcs`] keeps of a commitment: each committed matrix (on the host, on the
/// device in the tree, or both) and the tree, on the device unless the device declined it.
pub struct DeviceProverData<M, B: Backend> {
    leaves: Vec<Leaf<M>>,
    tree: TreeOn<M, B>,
    max_height: usize,
    /// The host's rebuild of a device tree whose device failed to read a path.
    host_tree: OnceLock<CpuMerkleTree>,
    /// Makes the host's matrix of values brought back from the device (`None` where the
    /// host had every matrix from the start).
    to_host: Option<ToHost<M>>,
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
        let pending = inputs
            .into_iter()
            .map(|host| Pending {
                host: Some(host),
                device: None,
            })
            .collect();
        self.commit_pending(pending, None, &|_| None)
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
        let opened = self.opened_rows(prover_data, &[index]).pop();
        BatchOpening::new(opened.unwrap_or_default(), path)
    }

    fn get_matrices<'a, M: Matrix<BabyBear>>(
        &self,
        prover_data: &'a Self::ProverData<M>,
    ) -> Vec<&'a M> {
        self.host_matrices(prover_data)
    }

    fn get_matrix_heights<M: Matrix<BabyBear>>(
        &self,
        prover_data: &Self::ProverData<M>,
    ) -> Vec<usize> {
        self.dimensions(prover_data)
            .iter()
            .map(|d| d.height)
            .collect()
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
        let opened = self.opened_rows(prover_data, indices);
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

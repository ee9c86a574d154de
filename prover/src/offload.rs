//! The prover loop's steps on an accel device ([`DeviceOffload`], the device path's
//! [`Offload`]):
//!
//! - the trace and LogUp-column commitments: each matrix goes up once, and its coset LDE
//!   goes from the LDE kernel into the Merkle tree on the device and stays there
//!   ([`DeviceMmcs::commit_lde`]);
//! - each chip's quotient: the chip's constraints, compiled once per run into
//!   [`crate::quotient`]'s bytecode, run by the device's interpreter over the LDEs the
//!   trees keep on the device; the values stay there, are split into the quotient's chunks
//!   and extended ([`zkbox_accel::quotient::chunk_ldes`]), and the chunk LDEs go into the
//!   quotient commitment's tree where they are ([`DeviceMmcs::commit_ldes`]);
//! - the opening ([`crate::opening`]): the column sums behind the out-of-domain values and
//!   the DEEP terms of the reduced openings, over the matrices the trees keep on the device
//!   ([`zkbox_accel::deep`]), each point's tables uploaded once; the reduced openings stay
//!   on the device for FRI ([`crate::fri::Input::Kept`]);
//! - FRI's rounds ([`crate::fri`]): each round's vector goes from the fold kernel
//!   ([`zkbox_accel::fri::fold`], arity-2 passes) and the addition of the next reduced
//!   opening into the round's Merkle tree where it is ([`DeviceMmcs::commit_on_device`]),
//!   and the next fold reads the tree's copy; only the last, constant vector comes back.
//!
//! What crosses back to the host is what the proof holds: the commitments' caps, the
//! out-of-domain values, and for the queries the opened rows (gathered on the device,
//! `Backend::gather_rows`) and their Merkle paths. All the steps compute the values the
//! host computes, so the proof is the same file. A device call that fails is logged and
//! its step runs on the host, bringing back what it needs; a device that fails while it
//! alone holds such data ends the proof with a device error (retry on another device).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use p3_commit::{ExtensionMmcs, Mmcs, OpeningRequest, PolynomialSpace};
use p3_field::{BasedVectorSpace, Field, PrimeCharacteristicRing};
use p3_fri::{BatchMultiOpening, FriFoldingStrategy, FriParameters, TwoAdicFriFolding};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::extension::FlatMatrixView;
use p3_matrix::{Dimensions, Matrix};
use p3_uni_stark::{Com, Domain, PcsProverError, StarkGenericConfig};
use zkbox_accel::fri::{self, upload_vector};
use zkbox_accel::quotient::{QuotientInputs, QuotientProgram, chunk_ldes, download_values};
use zkbox_accel::{
    AccelError, Backend, BackendKind, DeviceFailure, DeviceMatrix, DeviceMmcs, Lde, RowOrder,
};

use crate::batch::{Offload, PcsData, PcsOpening, QuotientRequest};
use crate::config::{
    Challenge, Challenger, DeviceConfig, LOG_BLOWUP, Val, ZkboxConfig, fri_parameters, stark_config,
};
use crate::fri::{FriRounds, Input, committed_rows, fold_on_host};
use crate::opening::{MatrixTerms, OpeningArithmetic};
use crate::quotient::{compile, periodic_table, selectors, weights};

/// Where a device proof runs the arithmetic a device can take over besides its
/// commitments: the chips' quotients, the opening's passes and FRI's folding rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceCompute {
    /// On the device, unless the device is accel's CPU backend, whose interpreter and
    /// plain loops are slower than the host's native, packed evaluation.
    #[default]
    Auto,
    /// On the device, whatever it is.
    Always,
    /// On the host.
    Never,
}

impl std::str::FromStr for DeviceCompute {
    type Err = String;

    /// `auto`, `always` or `never`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(DeviceCompute::Auto),
            "always" => Ok(DeviceCompute::Always),
            "never" => Ok(DeviceCompute::Never),
            other => Err(format!(
                "unknown placement {other:?} (expected auto, always or never)"
            )),
        }
    }
}

impl std::fmt::Display for DeviceCompute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceCompute::Auto => "auto",
            DeviceCompute::Always => "always",
            DeviceCompute::Never => "never",
        })
    }
}

/// How many chip quotients, FRI folding rounds and opening steps a [`DeviceOffload`] ran
/// on its device, and how many the host took back after a device error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffloadCounts {
    /// Quotients the device evaluated, split into chunks and extended for their
    /// commitment.
    pub quotients_on_device: usize,
    /// Quotients handed back to the host after a device error.
    pub quotient_fallbacks: usize,
    /// FRI folding rounds (of any arity) the device ran.
    pub folds_on_device: usize,
    /// FRI folding rounds handed back to the host after a device error.
    pub fold_fallbacks: usize,
    /// Opening steps the device ran: one per matrix and point for the out-of-domain
    /// values, one per LDE height for the DEEP terms of its matrices.
    pub opening_steps_on_device: usize,
    /// Opening steps handed back to the host after a device error.
    pub opening_fallbacks: usize,
    /// Matrices the device had made or held, uploaded again because it no longer held
    /// them: committed matrices for a quotient, an opening step or a FRI round, and
    /// reduced openings for FRI (on accel's CPU backend, whose commitments keep only the
    /// host's matrices, every committed one).
    pub matrices_uploaded: usize,
    /// Committed matrices only the device held that came back to the host whole, for a
    /// step the host took (on a backend whose trees keep their matrices, none while the
    /// device takes every step: only opened rows cross back).
    pub matrices_downloaded: usize,
}

/// The device path's [`Offload`]: commitments, quotients, the opening and FRI folds on
/// `B`'s device.
pub struct DeviceOffload<B: Backend> {
    mmcs: DeviceMmcs<B>,
    /// FRI's parameters, with its round commitments on the device: the ones
    /// [`crate::config::device_config`]'s PCS is built with (both come from
    /// [`fri_parameters`]), so the opening here and the PCS's own agree.
    fri: FriParameters<ExtensionMmcs<Val, Challenge, DeviceMmcs<B>>>,
    /// Whether quotients, the opening's passes and FRI folds run on the device.
    compute_on_device: bool,
    /// The host configuration, for the small periodic-column tables.
    host: ZkboxConfig,
    /// Each chip's compiled constraints, by the chip's description (programs are a pure
    /// function of the chip; a run has a few dozen chip variants).
    programs: Mutex<HashMap<String, Arc<QuotientProgram>>>,
    on_device: AtomicUsize,
    fallbacks: AtomicUsize,
    folds: StepCounts,
    openings: StepCounts,
    uploads: AtomicUsize,
}

/// Steps of one kind a device ran, and those the host took back.
#[derive(Debug, Default)]
struct StepCounts {
    on_device: AtomicUsize,
    fallbacks: AtomicUsize,
}

impl StepCounts {
    /// Counts the outcome of `step` on `device`: its value, or `None` after logging the
    /// error, for the host to take the step back.
    fn record<T>(
        &self,
        device: zkbox_accel::DeviceId,
        step: &'static str,
        result: Result<T, AccelError>,
    ) -> Option<T> {
        if result.is_ok() {
            self.on_device.fetch_add(1, Ordering::Relaxed);
        }
        self.record_failure(device, step, result)
    }

    /// As [`Self::record`] for a step that only prepares the counted ones (an upload): a
    /// failure is logged and counted, a success is not.
    fn record_failure<T>(
        &self,
        device: zkbox_accel::DeviceId,
        step: &'static str,
        result: Result<T, AccelError>,
    ) -> Option<T> {
        result
            .inspect_err(|err| {
                tracing::warn!(%device, %err, step, "device step falls back to the host");
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
            })
            .ok()
    }
}

impl<B: Backend + 'static> DeviceOffload<B> {
    /// Commitments through `mmcs` (the device configuration's own), quotients, the
    /// opening's passes and FRI folds where `compute` says.
    pub fn new(mmcs: DeviceMmcs<B>, compute: DeviceCompute) -> Self {
        let on_device = match compute {
            DeviceCompute::Auto => mmcs.backend().info().id.backend != BackendKind::Cpu,
            DeviceCompute::Always => true,
            DeviceCompute::Never => false,
        };
        DeviceOffload {
            fri: fri_parameters(mmcs.clone()),
            mmcs,
            compute_on_device: on_device,
            host: stark_config(),
            programs: Mutex::default(),
            on_device: AtomicUsize::new(0),
            fallbacks: AtomicUsize::new(0),
            folds: StepCounts::default(),
            openings: StepCounts::default(),
            uploads: AtomicUsize::new(0),
        }
    }

    /// The Merkle commitment scheme its commitments go through (clones share its counts).
    pub fn mmcs(&self) -> &DeviceMmcs<B> {
        &self.mmcs
    }

    /// What it has done so far.
    pub fn counts(&self) -> OffloadCounts {
        OffloadCounts {
            quotients_on_device: self.on_device.load(Ordering::Relaxed),
            quotient_fallbacks: self.fallbacks.load(Ordering::Relaxed),
            folds_on_device: self.folds.on_device.load(Ordering::Relaxed),
            fold_fallbacks: self.folds.fallbacks.load(Ordering::Relaxed),
            opening_steps_on_device: self.openings.on_device.load(Ordering::Relaxed),
            opening_fallbacks: self.openings.fallbacks.load(Ordering::Relaxed),
            matrices_uploaded: self.uploads.load(Ordering::Relaxed),
            matrices_downloaded: self.mmcs.matrices_downloaded(),
        }
    }

    /// The chip's compiled constraints, compiled on first use.
    fn program(&self, request: &QuotientRequest<'_, DeviceConfig<B>>) -> Arc<QuotientProgram> {
        let key = format!("{:?}", request.chip);
        if let Some(program) = self.programs.lock().expect("program cache").get(&key) {
            return program.clone();
        }
        let _span = tracing::debug_span!("compile quotient program", chip = %key).entered();
        let program = Arc::new(compile(request.chip, request.lookups));
        self.programs
            .lock()
            .expect("program cache")
            .entry(key)
            .or_insert(program)
            .clone()
    }

    /// Committed matrix `index` of `data` on the device, holding the quotient domain of
    /// `size` points in bit-reversed order: all of it, or its first `size` rows where the
    /// LDE is taller (a chip whose constraints have degree 2 or less). `None` if the
    /// committed LDE is shorter than the domain.
    fn lde_on_device<'a>(
        &self,
        committed: (&'a PcsData<DeviceConfig<B>>, usize),
        size: usize,
    ) -> Result<Option<OnDevice<'a, B>>, AccelError> {
        let (data, index) = committed;
        if self.mmcs.dimensions(data)[index].height < size {
            return Ok(None);
        }
        self.committed_on_device(committed, size).map(Some)
    }

    /// Committed matrix `index` of `data` on the device, bit-reversed as committed, at least
    /// its first `rows` rows: the tree's own copy of the whole matrix if it is there, else
    /// those rows of the host's copy uploaded (counted).
    fn committed_on_device<'a>(
        &self,
        (data, index): (&'a PcsData<DeviceConfig<B>>, usize),
        rows: usize,
    ) -> Result<OnDevice<'a, B>, AccelError> {
        let shape = self.mmcs.dimensions(data)[index];
        if let Some(resident) = self.mmcs.resident_matrix(data, index)
            && resident.order() == RowOrder::BitReversed
            && (resident.width(), resident.height()) == (shape.width, shape.height)
        {
            return Ok(OnDevice::Resident(resident));
        }
        let host = self.mmcs.get_matrices(data)[index];
        let uploaded = self
            .mmcs
            .backend()
            .upload(&host.values[..rows * host.width], host.width)?
            .assume_order(RowOrder::BitReversed);
        self.uploads.fetch_add(1, Ordering::Relaxed);
        Ok(OnDevice::Uploaded(uploaded))
    }

    /// The chip's quotient values, left on the device; `Ok(None)` when its quotient domain
    /// is not a part of its LDEs' (never, for Plonky3's two-adic PCS).
    fn evaluate(
        &self,
        request: &QuotientRequest<'_, DeviceConfig<B>>,
    ) -> Result<Option<DeviceMatrix<B>>, AccelError> {
        let size = request.quotient_domain.size();
        if request.quotient_domain.shift() != Val::GENERATOR {
            return Ok(None);
        }
        let Some(main) = self.lde_on_device(request.main, size)? else {
            return Ok(None);
        };
        let mut others = [None, None];
        for (slot, committed) in others
            .iter_mut()
            .zip([request.preprocessed, request.permutation])
        {
            if let Some(committed) = committed {
                match self.lde_on_device(committed, size)? {
                    Some(matrix) => *slot = Some(matrix),
                    None => return Ok(None),
                }
            }
        }
        let [preprocessed, permutation] = others;
        let program = self.program(request);
        let (periodic, periodic_rows) = periodic_table(
            self.host.pcs(),
            request.chip,
            request.trace_domain,
            request.quotient_domain,
        );
        let selectors = selectors(request.trace_domain, request.quotient_domain);
        let weights = weights(request.alpha, program.shape.weights);
        let terminal: Vec<Challenge> = request.terminal.into_iter().collect();
        let backend = self.mmcs.backend();
        let values = backend.evaluate_quotient(
            &program,
            &QuotientInputs {
                rows: size,
                main: &main,
                preprocessed: preprocessed.as_deref(),
                permutation: permutation.as_deref(),
                next_step: size / request.trace_domain.size(),
                selectors: &selectors,
                periodic: &periodic,
                periodic_rows,
                public_values: request.public_values,
                challenges: request.challenges,
                permutation_values: &terminal,
                weights: &weights,
            },
        )?;
        Ok(Some(values))
    }

    /// The LDEs of the chip's quotient chunks, computed where its values are and left
    /// there for the commitment (and the openings' rows); `Ok(None)` as for
    /// [`Self::evaluate`].
    fn evaluate_chunk_ldes(
        &self,
        request: &QuotientRequest<'_, DeviceConfig<B>>,
        chunks: usize,
    ) -> Result<Option<Vec<QuotientLde<B>>>, AccelError> {
        let Some(values) = self.evaluate(request)? else {
            return Ok(None);
        };
        // As `TwoAdicFriPcs::get_quotient_ldes`: a chunk on `x·H` extends onto `g·K`.
        let shifts: Vec<Val> = request
            .quotient_domain
            .split_domains(chunks)
            .iter()
            .map(|domain| Val::GENERATOR / domain.shift())
            .collect();
        let backend = &**self.mmcs.backend();
        let ldes = chunk_ldes(backend, &values, &shifts, LOG_BLOWUP)?;
        Ok(Some(ldes.into_iter().map(Lde::Device).collect()))
    }
}

/// A quotient chunk's LDE in a device proof: on the host, or on the device alone where the
/// device computed it.
pub type QuotientLde<B> = Lde<B>;

/// A matrix on the device: kept there by a Merkle tree, or uploaded for one evaluation.
enum OnDevice<'a, B: Backend> {
    Resident(&'a DeviceMatrix<B>),
    Uploaded(DeviceMatrix<B>),
}

impl<B: Backend> Deref for OnDevice<'_, B> {
    type Target = DeviceMatrix<B>;

    fn deref(&self) -> &DeviceMatrix<B> {
        match self {
            OnDevice::Resident(matrix) => matrix,
            OnDevice::Uploaded(matrix) => matrix,
        }
    }
}

impl<B: Backend + 'static> Offload<DeviceConfig<B>> for DeviceOffload<B> {
    type QuotientLde = QuotientLde<B>;

    fn commit(
        &self,
        _pcs: &<DeviceConfig<B> as StarkGenericConfig>::Pcs,
        evaluations: Vec<(Domain<DeviceConfig<B>>, RowMajorMatrix<Val>)>,
    ) -> Result<(Com<DeviceConfig<B>>, PcsData<DeviceConfig<B>>), PcsProverError<DeviceConfig<B>>>
    {
        // As `TwoAdicFriPcs::commit`: evaluations on `x·H` extend to `g·K`, so the LDE's
        // shift is `g / x`.
        let inputs = evaluations
            .into_iter()
            .map(|(domain, evaluations)| {
                assert_eq!(domain.size(), evaluations.height(), "a trace of its domain");
                (evaluations, Val::GENERATOR / domain.shift())
            })
            .collect();
        Ok(self.mmcs.commit_lde(inputs, LOG_BLOWUP))
    }

    fn open(
        &self,
        _pcs: &<DeviceConfig<B> as StarkGenericConfig>::Pcs,
        requests: Vec<OpeningRequest<'_, PcsData<DeviceConfig<B>>, Challenge>>,
        challenger: &mut Challenger,
        _preprocessed: Option<usize>,
    ) -> Result<PcsOpening<DeviceConfig<B>>, PcsProverError<DeviceConfig<B>>> {
        // zkbox's PCS hides nothing, so the preprocessed commitment opens like the others.
        let backend = self.compute_on_device.then(|| self.mmcs.backend().as_ref());
        let arithmetic = DeviceOpening {
            offload: self,
            on: backend.is_some(),
            weights: Mutex::default(),
            denominators: Mutex::default(),
            reduced: Mutex::default(),
        };
        let rounds = DeviceRounds {
            offload: self,
            backend,
            reduced: &arithmetic.reduced,
        };
        crate::opening::open(
            &self.fri,
            &self.mmcs,
            requests,
            challenger,
            &rounds,
            &arithmetic,
        )
    }

    fn quotient_ldes(
        &self,
        request: &QuotientRequest<'_, DeviceConfig<B>>,
        chunks: usize,
    ) -> Option<Vec<QuotientLde<B>>> {
        if !self.compute_on_device {
            return None;
        }
        match self.evaluate_chunk_ldes(request, chunks) {
            Ok(Some(ldes)) => {
                self.on_device.fetch_add(1, Ordering::Relaxed);
                Some(ldes)
            }
            Ok(None) => None,
            Err(err) => {
                let device = self.mmcs.backend().info().id;
                tracing::warn!(%device, %err, "quotient evaluation falls back to the host");
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn host_quotient_lde(&self, lde: RowMajorMatrix<Val>) -> QuotientLde<B> {
        Lde::Host(lde)
    }

    fn commit_quotient_ldes(
        &self,
        _pcs: &<DeviceConfig<B> as StarkGenericConfig>::Pcs,
        ldes: Vec<QuotientLde<B>>,
    ) -> Result<(Com<DeviceConfig<B>>, PcsData<DeviceConfig<B>>), PcsProverError<DeviceConfig<B>>>
    {
        // As `TwoAdicFriPcs::commit_ldes`: an LDE shorter than the blowup has no degree.
        assert!(
            ldes.iter().all(|lde| lde.height() >= 1 << LOG_BLOWUP),
            "a quotient chunk's LDE is at least the blowup tall"
        );
        Ok(self.mmcs.commit_ldes(ldes))
    }
}

/// The opening's row arithmetic on the device: column sums for the out-of-domain values
/// and the DEEP terms, over the committed matrices where the trees keep them (uploaded
/// where they do not). Each point's weights and denominators go up once per opening.
struct DeviceOpening<'a, B: Backend> {
    offload: &'a DeviceOffload<B>,
    /// Whether the device takes this opening's arithmetic at all.
    on: bool,
    weights: PointVectors<B>,
    denominators: PointVectors<B>,
    /// The reduced openings left on the device for FRI, one per height.
    reduced: ReducedOnDevice<B>,
}

/// Reduced openings on the device, by their length, until FRI's rounds take them.
type ReducedOnDevice<B> = Mutex<Vec<(usize, DeviceMatrix<B>)>>;

/// The reduced opening of `len` elements left on the device, taken out of `reduced`.
fn take_reduced<B: Backend>(reduced: &ReducedOnDevice<B>, len: usize) -> Option<DeviceMatrix<B>> {
    let mut reduced = reduced.lock().unwrap_or_else(|p| p.into_inner());
    let at = reduced.iter().position(|(n, _)| *n == len)?;
    Some(reduced.swap_remove(at).1)
}

/// Per opening point, a vector uploaded for it.
type PointVectors<B> = Mutex<Vec<(Challenge, Arc<DeviceMatrix<B>>)>>;

impl<B: Backend + 'static> DeviceOpening<'_, B> {
    /// The table `values` of `point` on the device: from `cache`, or uploaded into it on
    /// the point's first use.
    fn vector_for(
        &self,
        cache: &PointVectors<B>,
        point: Challenge,
        values: &[Challenge],
    ) -> Result<Arc<DeviceMatrix<B>>, AccelError> {
        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, uploaded)) = cache.iter().find(|(p, _)| *p == point) {
            return Ok(uploaded.clone());
        }
        let uploaded = Arc::new(upload_vector(&**self.offload.mmcs.backend(), values)?);
        cache.push((point, uploaded.clone()));
        Ok(uploaded)
    }

    /// Runs one opening step on the device: `None` when the device takes no part in this
    /// opening or the step fails (logged and counted, the host takes it back).
    fn attempt<T>(
        &self,
        step: &'static str,
        run: impl FnOnce(&B) -> Result<T, AccelError>,
    ) -> Option<T> {
        if !self.on {
            return None;
        }
        let backend = &**self.offload.mmcs.backend();
        self.offload
            .openings
            .record(backend.info().id, step, run(backend))
    }
}

impl<B: Backend + 'static> OpeningArithmetic<PcsData<DeviceConfig<B>>> for DeviceOpening<'_, B> {
    fn column_sums(
        &self,
        committed: (&PcsData<DeviceConfig<B>>, usize),
        shape: Dimensions,
        rows: usize,
        point: Challenge,
        weights: &[Challenge],
    ) -> Option<Vec<Challenge>> {
        self.attempt("column sums", |backend| {
            let weights = self.vector_for(&self.weights, point, weights)?;
            let on_device = self.offload.committed_on_device(committed, shape.height)?;
            backend.column_dot(&on_device, rows, &weights)
        })
    }

    fn reduce_height(
        &self,
        height: usize,
        matrices: &[MatrixTerms<'_, PcsData<DeviceConfig<B>>>],
    ) -> Option<Input> {
        // The out-of-domain values are all done: their weights leave the device.
        self.weights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        // One running sum per height, on the device from the first matrix to the last; a
        // failure anywhere gives the whole height back to the host.
        self.attempt("DEEP terms", |backend| {
            let mut acc = upload_vector(backend, &vec![Challenge::ZERO; height])?;
            for m in matrices {
                let on_device = self
                    .offload
                    .committed_on_device(m.committed, m.dimensions.height)?;
                let combined = backend.combine_rows(&on_device, &m.powers)?;
                for term in &m.terms {
                    let denominators =
                        self.vector_for(&self.denominators, term.point, term.denominators)?;
                    backend.deep_accumulate(&combined, &denominators, term.c, term.s, &mut acc)?;
                }
            }
            check_length("DEEP sums", acc.height(), height)?;
            // FRI takes these sums where they are (one entry per height: the opening
            // reduces each height once).
            let mut reduced = self.reduced.lock().unwrap_or_else(|p| p.into_inner());
            reduced.retain(|(n, _)| *n != height);
            reduced.push((height, acc));
            Ok(Input::Kept(height))
        })
    }
}

/// An error unless a device returned the `expected` number of values for `step`.
fn check_length(step: &'static str, got: usize, expected: usize) -> Result<(), AccelError> {
    if got == expected {
        return Ok(());
    }
    Err(AccelError::ShapeMismatch {
        detail: format!("{step}: the device returned {got} values, not {expected}"),
    })
}

/// FRI's rounds on a device (`backend`), or on the host where it is `None` or a device
/// call fails. On the device, a round's vector goes from the fold kernel (and the addition
/// of the next reduced opening) into the round's Merkle tree where it is, and the next fold
/// reads the tree's copy; it comes back once per round, as the host copy the queries open.
struct DeviceRounds<'a, B: Backend> {
    offload: &'a DeviceOffload<B>,
    backend: Option<&'a B>,
    /// The reduced openings the opening left on the device.
    reduced: &'a ReducedOnDevice<B>,
}

/// FRI's round commitments in a device proof.
type RoundMmcs<B> = ExtensionMmcs<Val, Challenge, DeviceMmcs<B>>;

/// The prover data of one FRI round.
type RoundData<B> = <RoundMmcs<B> as Mmcs<Challenge>>::ProverData<RowMajorMatrix<Challenge>>;

/// FRI's vector between rounds: on the device alone, or on the host.
enum RoundVector<B: Backend> {
    Device(DeviceMatrix<B>),
    Host(Vec<Challenge>),
}

/// The host's matrix of a FRI round's committed rows (`width` base words a row), for a
/// step the host takes.
fn round_rows(
    values: Vec<Val>,
    width: usize,
) -> FlatMatrixView<Val, Challenge, RowMajorMatrix<Challenge>> {
    FlatMatrixView::new(RowMajorMatrix::new(
        Challenge::reconstitute_from_base(values),
        width / 4,
    ))
}

impl<B: Backend + 'static> DeviceRounds<'_, B> {
    /// The host's folding, as Plonky3's `open` makes it: it answers everything the device
    /// does not do.
    fn host() -> TwoAdicFriFolding<Vec<BatchMultiOpening<Val, DeviceMmcs<B>>>, AccelError> {
        TwoAdicFriFolding(PhantomData)
    }

    /// `folded += factor · input` on the device, with the copy of the reduced opening the
    /// opening left there (which stays there, for the host, until the fold is done) or the
    /// host's uploaded (counted).
    fn add_input(
        &self,
        backend: &B,
        folded: &mut DeviceMatrix<B>,
        input: &Input,
        factor: Challenge,
    ) -> Result<(), AccelError> {
        match input {
            Input::Kept(len) => {
                let reduced = self.reduced.lock().unwrap_or_else(|p| p.into_inner());
                let kept = reduced.iter().find(|(n, _)| n == len).ok_or_else(|| {
                    AccelError::ShapeMismatch {
                        detail: format!("no reduced opening of {len} values on the device"),
                    }
                })?;
                backend.fri_add_scaled(folded, &kept.1, factor)
            }
            Input::Host(values) => {
                self.offload.uploads.fetch_add(1, Ordering::Relaxed);
                backend.fri_add_scaled(folded, &upload_vector(backend, values)?, factor)
            }
        }
    }

    /// The reduced opening of `len` values the opening left on the device, taken.
    fn kept(&self, len: usize) -> DeviceMatrix<B> {
        take_reduced(self.reduced, len)
            .unwrap_or_else(|| panic!("no reduced opening of {len} values was left on the device"))
    }

    /// The values of `input` on the host: brought back from the device if they were left
    /// there, for a step the host takes.
    fn host_values(&self, input: Input) -> Vec<Challenge> {
        match input {
            Input::Host(values) => values,
            Input::Kept(len) => {
                let backend = self.device();
                download_values(backend, &self.kept(len))
                    .unwrap_or_else(|err| DeviceFailure::raise(backend.info().id, err))
            }
        }
    }

    /// One round's fold on the device: the committed rows (the tree's copy, or the host's
    /// uploaded) folded by `beta`, plus `input` times `beta^arity`, left there.
    fn fold_on_device(
        &self,
        backend: &B,
        (mmcs, data): (&RoundMmcs<B>, &RoundData<B>),
        beta: Challenge,
        log_arity: usize,
        input: Option<&Input>,
    ) -> Result<RoundVector<B>, AccelError> {
        let committed = match self.offload.mmcs.resident_matrix(data, 0) {
            Some(resident) => OnDevice::Resident(resident),
            None => {
                self.offload.uploads.fetch_add(1, Ordering::Relaxed);
                let rows = committed_rows(mmcs, data);
                OnDevice::Uploaded(upload_vector(backend, &rows.values)?)
            }
        };
        let elements = committed.width() * committed.height() / 4;
        let mut folded = fri::fold(backend, &committed, beta, log_arity)?;
        if let Some(input) = input {
            self.add_input(backend, &mut folded, input, beta.exp_power_of_2(log_arity))?;
        }
        check_length("FRI fold", folded.height(), elements >> log_arity)?;
        Ok(RoundVector::Device(folded))
    }

    /// The device this proof's rounds run on (only called for a vector on the device).
    fn device(&self) -> &B {
        self.offload.mmcs.backend()
    }
}

impl<B: Backend + 'static> FriRounds<RoundMmcs<B>> for DeviceRounds<'_, B> {
    type Vector = RoundVector<B>;

    fn extra_query_index_bits(&self) -> usize {
        FriFoldingStrategy::<Val, Challenge>::extra_query_index_bits(&Self::host())
    }

    fn start(&self, input: Input) -> RoundVector<B> {
        let Some(backend) = self.backend else {
            return RoundVector::Host(self.host_values(input));
        };
        match input {
            Input::Kept(len) => RoundVector::Device(self.kept(len)),
            Input::Host(values) => {
                self.offload.uploads.fetch_add(1, Ordering::Relaxed);
                let uploaded = upload_vector(backend, &values);
                match self
                    .offload
                    .folds
                    .record_failure(backend.info().id, "FRI input", uploaded)
                {
                    Some(on_device) => RoundVector::Device(on_device),
                    None => RoundVector::Host(values),
                }
            }
        }
    }

    fn commit(
        &self,
        mmcs: &RoundMmcs<B>,
        vector: RoundVector<B>,
        log_arity: usize,
    ) -> (<RoundMmcs<B> as Mmcs<Challenge>>::Commitment, RoundData<B>) {
        let arity = 1 << log_arity;
        match vector {
            RoundVector::Device(on_device) => {
                // Rows of `arity` elements are the same words, so this never fails on a
                // working device; a failure has lost the vector with it.
                let backend = self.device();
                match backend.reshape(on_device, 4 * arity) {
                    Ok(leaves) => self.offload.mmcs.commit_on_device(leaves, round_rows),
                    Err(err) => DeviceFailure::raise(backend.info().id, err),
                }
            }
            RoundVector::Host(host) => mmcs.commit_matrix(RowMajorMatrix::new(host, arity)),
        }
    }

    fn fold(
        &self,
        mmcs: &RoundMmcs<B>,
        data: &RoundData<B>,
        beta: Challenge,
        log_arity: usize,
        input: Option<Input>,
    ) -> RoundVector<B> {
        if let Some(backend) = self.backend {
            let on_device =
                self.fold_on_device(backend, (mmcs, data), beta, log_arity, input.as_ref());
            if let Some(vector) =
                self.offload
                    .folds
                    .record(backend.info().id, "FRI round", on_device)
            {
                // The reduced opening it added is done with.
                if let Some(Input::Kept(len)) = input {
                    self.kept(len);
                }
                return vector;
            }
        }
        let input = input.map(|input| self.host_values(input));
        let host = Self::host();
        RoundVector::Host(fold_on_host(
            &host,
            mmcs,
            data,
            beta,
            log_arity,
            input.as_deref(),
        ))
    }

    fn finish(&self, vector: RoundVector<B>) -> Vec<Challenge> {
        match vector {
            RoundVector::Device(on_device) => download_values(self.device(), &on_device)
                .unwrap_or_else(|err| DeviceFailure::raise(self.device().info().id, err)),
            RoundVector::Host(host) => host,
        }
    }
}

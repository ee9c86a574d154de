//! The prover loop's steps on an accel device ([`DeviceOffload`], the device path's
//! [`Offload`]):
//!
//! - the trace and LogUp-column commitments: each matrix goes up once, its coset LDE goes
//!   from the LDE kernel into the Merkle tree on the device and comes back once, for the
//!   openings ([`DeviceMmcs::commit_lde`]);
//! - each chip's quotient: the chip's constraints, compiled once per run into
//!   [`crate::quotient`]'s bytecode, run by the device's interpreter over the LDEs the
//!   trees keep on the device; only the quotient values come back.
//!
//! Both compute the values the host computes, so the proof is the same file. A device call
//! that fails is logged and its step runs on the host, as everywhere in the device path.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use p3_commit::Mmcs;
use p3_field::Field;
use p3_matrix::Matrix;
use p3_matrix::dense::RowMajorMatrix;
use p3_uni_stark::{Com, Domain, PcsProverError, StarkGenericConfig};
use zkbox_accel::quotient::{QuotientInputs, QuotientProgram, download_values};
use zkbox_accel::{AccelError, Backend, BackendKind, DeviceMatrix, DeviceMmcs, RowOrder};

use crate::batch::{Offload, PcsData, QuotientRequest};
use crate::config::{Challenge, DeviceConfig, LOG_BLOWUP, Val, ZkboxConfig, stark_config};
use crate::quotient::{compile, periodic_table, selectors, weights};

/// Where a device proof evaluates its chips' quotients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceQuotient {
    /// On the device, unless the device is accel's CPU backend, whose interpreter is
    /// slower than the host's native evaluation.
    #[default]
    Auto,
    /// On the device, whatever it is.
    Always,
    /// On the host.
    Never,
}

impl std::str::FromStr for DeviceQuotient {
    type Err = String;

    /// `auto`, `always` or `never`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(DeviceQuotient::Auto),
            "always" => Ok(DeviceQuotient::Always),
            "never" => Ok(DeviceQuotient::Never),
            other => Err(format!(
                "unknown quotient placement {other:?} (expected auto, always or never)"
            )),
        }
    }
}

impl std::fmt::Display for DeviceQuotient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceQuotient::Auto => "auto",
            DeviceQuotient::Always => "always",
            DeviceQuotient::Never => "never",
        })
    }
}

/// How many chip quotients a [`DeviceOffload`] evaluated on its device, and how many the
/// host took back after a device error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffloadCounts {
    /// Quotients the device evaluated.
    pub quotients_on_device: usize,
    /// Quotients handed back to the host after a device error.
    pub quotient_fallbacks: usize,
}

/// The device path's [`Offload`]: commitments and quotients on `B`'s device.
pub struct DeviceOffload<B: Backend> {
    mmcs: DeviceMmcs<B>,
    quotients: bool,
    /// The host configuration, for the small periodic-column tables.
    host: ZkboxConfig,
    /// Each chip's compiled constraints, by the chip's description (programs are a pure
    /// function of the chip; a run has a few dozen chip variants).
    programs: Mutex<HashMap<String, Arc<QuotientProgram>>>,
    on_device: AtomicUsize,
    fallbacks: AtomicUsize,
}

impl<B: Backend + 'static> DeviceOffload<B> {
    /// Commitments through `mmcs` (the device configuration's own), quotients where
    /// `quotient` says.
    pub fn new(mmcs: DeviceMmcs<B>, quotient: DeviceQuotient) -> Self {
        let quotients = match quotient {
            DeviceQuotient::Auto => mmcs.backend().info().id.backend != BackendKind::Cpu,
            DeviceQuotient::Always => true,
            DeviceQuotient::Never => false,
        };
        DeviceOffload {
            mmcs,
            quotients,
            host: stark_config(),
            programs: Mutex::default(),
            on_device: AtomicUsize::new(0),
            fallbacks: AtomicUsize::new(0),
        }
    }

    /// What it has done so far.
    pub fn counts(&self) -> OffloadCounts {
        OffloadCounts {
            quotients_on_device: self.on_device.load(Ordering::Relaxed),
            quotient_fallbacks: self.fallbacks.load(Ordering::Relaxed),
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

    /// Committed matrix `index` of `data` on the device as the quotient domain of `size`
    /// points in bit-reversed order: the tree's own copy if it is there, else the host's
    /// copy uploaded. `None` if the committed LDE is not that domain.
    fn lde_on_device<'a>(
        &self,
        (data, index): (&'a PcsData<DeviceConfig<B>>, usize),
        size: usize,
    ) -> Result<Option<OnDevice<'a, B>>, AccelError> {
        let host = self.mmcs.get_matrices(data)[index];
        if host.height() != size {
            return Ok(None);
        }
        if let Some(resident) = self.mmcs.resident_matrix(data, index)
            && resident.order() == RowOrder::BitReversed
            && (resident.width(), resident.height()) == (host.width(), host.height())
        {
            return Ok(Some(OnDevice::Resident(resident)));
        }
        let uploaded = self
            .mmcs
            .backend()
            .upload(&host.values, host.width)?
            .assume_order(RowOrder::BitReversed);
        Ok(Some(OnDevice::Uploaded(uploaded)))
    }

    /// The chip's quotient values from the device; `Ok(None)` when its LDEs are not on
    /// its quotient domain (a chip whose constraints have degree 2 or less).
    fn evaluate(
        &self,
        request: &QuotientRequest<'_, DeviceConfig<B>>,
    ) -> Result<Option<Vec<Challenge>>, AccelError> {
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
        download_values(&**backend, &values).map(Some)
    }
}

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

    fn quotient(&self, request: &QuotientRequest<'_, DeviceConfig<B>>) -> Option<Vec<Challenge>> {
        if !self.quotients {
            return None;
        }
        match self.evaluate(request) {
            Ok(Some(values)) => {
                self.on_device.fetch_add(1, Ordering::Relaxed);
                Some(values)
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
}

//! Proving on accel backends: the same run proven with the reference CPU path and with the
//! LDEs and Merkle trees on a device gives the same proof file, byte for byte, and it
//! verifies; proving the same run twice gives the same bytes too, and so does evaluating
//! the chips' quotients, the opening and FRI's folding rounds on the device. Devices: accel's CPU backend always; PoCL's OpenCL
//! device and lavapipe's Vulkan device where installed (scripts/setup.sh installs both, so
//! CI always has them).

use std::sync::Arc;

use zkbox_accel::{BackendKind, DeviceId};
use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::{Executor, Program};
use zkbox_prover::{
    DeviceCompute, OffloadCounts, Proof, ProveError, ProveOptions, ProvingDevice, prove_on, verify,
};

/// A short loop with loads, stores, a multiply and a division, and output bytes.
fn program() -> Program {
    let mut code = Vec::new();
    code.extend(li(5, 0x0010_0000)); // t0 = RAM
    code.push(addi(6, 0, 40)); // t1 = 40 rounds
    code.push(addi(7, 0, 3)); // t2 = 3
    // loop:
    code.push(asm::r(0x33, 0, 1, 7, 7, 6)); // t2 *= t1
    code.push(asm::r(0x33, 4, 1, 28, 7, 6)); // t3 = t2 / t1
    code.push(asm::s(2, 5, 28, 0)); // sw t3, 0(t0)
    code.push(asm::i(0x03, 2, 29, 5, 0)); // lw t4, 0(t0)
    code.push(addi(6, 6, -1)); // t1 -= 1
    code.push(asm::b(1, 6, 0, -20)); // bne t1, x0, loop
    code.push(asm::r(0x33, 0, 0, 10, 29, 7)); // a0 = t4 + t2
    code.push(asm::i(0x13, 7, 10, 10, 0x7f)); // a0 &= 0x7f
    code.extend(asm::exit());
    Program::from_words(0x1000, &code).unwrap()
}

/// The test program, its options, and the host's proof of it as bytes.
fn reference_run() -> (Program, ProveOptions, Vec<u8>) {
    let program = program();
    let options = ProveOptions::new(10_000);
    let proof = prove_on(ProvingDevice::Cpu, &program, vec![], options, |_| {}).unwrap();
    (program, options, proof.to_bytes())
}

fn opencl_present() -> bool {
    zkbox_accel::discover()
        .devices
        .iter()
        .any(|d| d.id.backend == BackendKind::OpenCl)
}

#[test]
fn every_device_makes_the_reference_proof() {
    let program = program();
    let exit = Executor::new(&program, vec![]).run(10_000).unwrap();
    let options = ProveOptions::new(10_000);
    let reference = prove_on(ProvingDevice::Cpu, &program, vec![], options, |_| {}).unwrap();
    assert_eq!(reference.exit_code(), exit);
    let reference = reference.to_bytes();
    // Deterministic: proof-of-work grinding keeps the smallest witness, not the first found.
    let again = prove_on(ProvingDevice::Cpu, &program, vec![], options, |_| {}).unwrap();
    assert!(
        again.to_bytes() == reference,
        "two proofs of one run differ"
    );

    let mut devices = vec![DeviceId {
        backend: BackendKind::Cpu,
        index: 0,
    }];
    if opencl_present() {
        devices.push(DeviceId {
            backend: BackendKind::OpenCl,
            index: 0,
        });
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no OpenCL device (scripts/setup.sh installs PoCL)"
        );
    }
    for device in devices {
        let proof = prove_on(
            ProvingDevice::Accel(device),
            &program,
            vec![],
            ProveOptions::new(10_000),
            |_| {},
        )
        .unwrap_or_else(|e| panic!("{device}: {e}"));
        verify(&proof, Some(&program)).unwrap_or_else(|e| panic!("{device}: {e}"));
        let bytes = proof.to_bytes();
        assert_eq!(bytes.len(), reference.len(), "{device}: proof size differs");
        let first = bytes.iter().zip(&reference).position(|(a, b)| a != b);
        assert_eq!(first, None, "{device}: proof differs from byte {first:?}");
    }
}

/// Proves `program` on device `id` with `options`, saying what the device took over.
fn prove_counted(
    id: DeviceId,
    program: &Program,
    options: ProveOptions,
) -> Result<(Proof, OffloadCounts), ProveError> {
    struct Run<'a>(&'a Program, ProveOptions);
    impl zkbox_accel::BackendVisitor for Run<'_> {
        type Output = Result<(Proof, OffloadCounts), ProveError>;
        fn visit<B: zkbox_accel::Backend + 'static>(self, backend: Arc<B>) -> Self::Output {
            zkbox_prover::prove_with_backend_counted(backend, self.0, vec![], self.1, |_| {})
        }
    }
    zkbox_accel::with_backend(id, Run(program, options)).unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// The chips' quotients evaluated by the device's constraint interpreter — accel's CPU
/// interpreter, PoCL and lavapipe (Vulkan) where installed — from the LDEs the device's
/// Merkle trees hold, the opening's column sums and DEEP terms over those LDEs, and FRI's
/// folding rounds run by its fold kernel: the same proof as the CPU's, byte for byte. Every
/// chip's quotient goes to the device, every opening step and FRI round runs there, none
/// falls back, and a device whose trees keep their matrices uploads none of them again.
#[test]
fn quotients_openings_and_folds_on_the_device_make_the_reference_proof() {
    let (program, options, reference) = reference_run();
    let mut devices = vec![(DeviceId::CPU, DeviceCompute::Always)];
    let present = zkbox_accel::discover().devices;
    for kind in [BackendKind::OpenCl, BackendKind::Vulkan] {
        if present.iter().any(|d| d.id.backend == kind) {
            devices.push((
                DeviceId {
                    backend: kind,
                    index: 0,
                },
                DeviceCompute::Auto,
            ));
        } else {
            assert!(
                std::env::var_os("CI").is_none(),
                "no {kind} device (scripts/setup.sh installs PoCL and lavapipe)"
            );
        }
    }
    let mut first_counts = None;
    for (device, quotient) in devices {
        let options = ProveOptions {
            device_compute: quotient,
            ..options
        };
        let (proof, counts) = prove_counted(device, &program, options).unwrap();
        // Every chip's quotient, whatever its constraints' degree: a degree-2 chip's
        // quotient domain is the first half of its bit-reversed LDE, read where it is.
        assert_eq!(proof.segment_count(), 1);
        let chips = proof.log_trace_heights().len();
        assert!(chips >= 16, "{chips} chips");
        assert_eq!(counts.quotients_on_device, chips, "{device}: {counts:?}");
        assert_eq!(counts.quotient_fallbacks, 0, "{device}");
        assert!(counts.folds_on_device >= 1, "{device}: {counts:?}");
        assert_eq!(counts.fold_fallbacks, 0, "{device}");
        assert!(counts.opening_steps_on_device >= 10, "{device}: {counts:?}");
        assert_eq!(counts.opening_fallbacks, 0, "{device}");
        // A device whose trees keep their matrices (all but accel's CPU backend) reads
        // every committed matrix, the preprocessed one included, where its tree keeps it,
        // and none of the matrices it made comes back whole: only the opened rows.
        if device != DeviceId::CPU {
            assert_eq!(counts.matrices_uploaded, 0, "{device}: {counts:?}");
            assert_eq!(counts.matrices_downloaded, 0, "{device}: {counts:?}");
        }
        // Each device takes every step the first one (accel's CPU backend) took.
        let counts = OffloadCounts {
            matrices_uploaded: 0,
            matrices_downloaded: 0,
            ..counts
        };
        let first = *first_counts.get_or_insert(counts);
        assert_eq!(counts, first, "{device}");
        assert!(proof.to_bytes() == reference, "{device}: the proof differs");
        verify(&proof, Some(&program)).unwrap_or_else(|e| panic!("{device}: {e}"));
    }
    // `Auto` leaves the quotients and folds of accel's CPU backend on the host.
    let (_, counts) = prove_counted(DeviceId::CPU, &program, options).unwrap();
    assert_eq!(counts, OffloadCounts::default());
    // With the host evaluating, the LDEs a device's trees keep come back whole for it, each
    // counted once.
    if present.iter().any(|d| d.id.backend == BackendKind::OpenCl) {
        let options = ProveOptions {
            device_compute: DeviceCompute::Never,
            ..options
        };
        let opencl = DeviceId {
            backend: BackendKind::OpenCl,
            index: 0,
        };
        let (proof, counts) = prove_counted(opencl, &program, options).unwrap();
        assert!(proof.to_bytes() == reference);
        assert!(counts.matrices_downloaded >= 16, "{counts:?}");
    }
}

#[test]
fn a_missing_device_is_a_typed_error_before_any_work() {
    let device = DeviceId {
        backend: BackendKind::Cuda,
        index: 7,
    };
    match prove_on(
        ProvingDevice::Accel(device),
        &program(),
        vec![],
        ProveOptions::new(10_000),
        |_| {},
    ) {
        Err(ProveError::Device { device: named, .. }) => assert_eq!(named, device),
        Err(other) => panic!("expected a device error, got {other}"),
        Ok(_) => panic!("proved on a device that does not exist"),
    }
}

/// A device that fails mid-proof, once or for good, at a range of points of the run: the
/// adapters hand the failed call to the host, and the proof is still the reference proof,
/// byte for byte. Where the failure leaves data only the device held out of reach (a
/// quotient's chunks, a FRI round's vector, a committed LDE on a backend whose trees keep
/// them), the prover returns a device error naming it instead, and the job proves on
/// another device (as the healthy run does); never a wrong or partial proof. On accel's
/// CPU backend.
#[test]
fn a_device_failing_mid_proof_never_changes_the_proof() {
    failures_never_change_the_proof(zkbox_accel::CpuBackend::new);
}

/// The same on PoCL, whose trees keep their matrices on the device, so faults also meet
/// the steps that read them there: quotients over the resident LDEs, the opening's passes,
/// FRI folds of the round trees' copies and the queries' rows.
#[test]
fn an_opencl_device_failing_mid_proof_never_changes_the_proof() {
    if !opencl_present() {
        return;
    }
    failures_never_change_the_proof(|| zkbox_accel::OpenClBackend::open(0).unwrap());
}

/// Proves the reference run through a [`FaultyBackend`] over `backend()` failing at a
/// range of calls, once or for good: every proof is the reference proof and verifies, and
/// every error is a device error naming the device, after which a healthy device makes the
/// reference proof.
fn failures_never_change_the_proof<B: zkbox_accel::Backend + 'static>(backend: impl Fn() -> B) {
    use zkbox_accel::Backend;
    use zkbox_accel::faulty::{Fault, FaultyBackend};

    let (program, options, reference) = reference_run();
    // Quotients on the device too, so faults also hit their uploads and evaluations.
    let device_options = ProveOptions {
        device_compute: DeviceCompute::Always,
        ..options
    };
    let prove = |fault| {
        let backend = Arc::new(FaultyBackend::new(backend(), fault));
        let proof = zkbox_prover::prove_with_backend_counted(
            backend.clone(),
            &program,
            vec![],
            device_options,
            |_| {},
        );
        (proof, backend)
    };
    let (proof, healthy) = prove(Fault::Once(usize::MAX));
    let (proof, counts) = proof.unwrap();
    assert!(proof.to_bytes() == reference);
    // Through the wrapper too, the quotients run on the device, where faults can hit them.
    assert!(counts.quotients_on_device >= 10, "{counts:?}");
    assert_eq!(counts.quotient_fallbacks, 0, "{counts:?}");
    assert!(counts.folds_on_device >= 1, "{counts:?}");
    assert_eq!(counts.fold_fallbacks, 0, "{counts:?}");
    assert!(counts.opening_steps_on_device >= 10, "{counts:?}");
    assert_eq!(counts.opening_fallbacks, 0, "{counts:?}");
    let calls = healthy.calls();
    let device = healthy.info().id;
    assert!(calls > 20, "{calls} device calls");
    let mut points: Vec<usize> = (1..8).map(|k| calls * k / 8).collect();
    points.extend([0, 1, 2, calls - 2, calls - 1]);
    let (mut quotient_fallbacks, mut fold_fallbacks, mut opening_fallbacks) = (0, 0, 0);
    let mut device_errors = 0;
    for fault in points
        .iter()
        .flat_map(|&at| [Fault::Once(at), Fault::From(at)])
    {
        let (proof, backend) = prove(fault);
        assert!(backend.failures() >= 1, "{fault:?}: no fault injected");
        let (proof, counts) = match proof {
            Ok(proved) => proved,
            Err(ProveError::Device { device: named, .. }) => {
                assert_eq!(named, device, "{fault:?}");
                device_errors += 1;
                continue;
            }
            Err(err) => panic!("{fault:?}: {err}"),
        };
        quotient_fallbacks += counts.quotient_fallbacks;
        fold_fallbacks += counts.fold_fallbacks;
        opening_fallbacks += counts.opening_fallbacks;
        assert!(
            proof.to_bytes() == reference,
            "{fault:?}: the proof differs from the reference"
        );
        verify(&proof, Some(&program)).unwrap_or_else(|e| panic!("{fault:?}: {e}"));
    }
    eprintln!(
        "{device}: {} faults, {device_errors} device errors; fallbacks: {quotient_fallbacks} quotients, {opening_fallbacks} opening steps, {fold_fallbacks} folds",
        2 * points.len()
    );
    // The host takes back each kind of step when the device fails it.
    assert!(quotient_fallbacks >= 1, "no quotient met a fault");
    assert!(opening_fallbacks >= 1, "no opening step met a fault");
    assert!(fold_fallbacks >= 1, "no FRI fold met a fault");
}

/// A device that returns wrong quotient values, wrong quotient chunks, wrong FRI folds or
/// wrong out-of-domain column sums without an error: the proof it makes does not verify, so
/// the prover returns an error naming the device, never the proof.
#[test]
fn a_device_that_computes_wrongly_gets_no_proof_out() {
    use zkbox_accel::CpuBackend;
    use zkbox_accel::faulty::{Fault, FaultyBackend};

    let (program, options, _) = reference_run();
    let options = ProveOptions {
        device_compute: DeviceCompute::Always,
        ..options
    };
    for fault in [
        Fault::WrongQuotients,
        Fault::WrongFolds,
        Fault::WrongOpenings,
        Fault::WrongChunks,
    ] {
        let backend = Arc::new(FaultyBackend::new(CpuBackend::new(), fault));
        match zkbox_prover::prove_with_backend(backend.clone(), &program, vec![], options, |_| {}) {
            Err(ProveError::DeviceProofRejected { device, .. }) => {
                assert_eq!(device, DeviceId::CPU)
            }
            Err(other) => panic!("{fault:?}: expected a rejected device proof, got {other}"),
            Ok(_) => panic!("{fault:?}: a proof with wrong values was returned"),
        }
        assert!(backend.failures() >= 1, "{fault:?}: nothing was corrupted");
    }
}

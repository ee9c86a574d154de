//! The CUDA backend against the CPU backend and Plonky3, element by element: NTTs, inverse
//! NTTs and coset LDEs (`Radix2DitParallel`), Poseidon2 permutations and Merkle trees
//! (`MerkleTreeMmcs`), FRI folding rounds (`TwoAdicFriFolding`), the Plonky3 adapters, and
//! typed errors for bad input.
//!
//! Inputs are seeded random non-zero field elements; every buffer the backend allocates is
//! poisoned with a word that is not a field element before any kernel writes it, so an
//! element a kernel skips fails the download. The tests need a CUDA device: where discovery
//! finds none they print why and pass; where a device is listed, failing to open it fails.

#![cfg(feature = "cuda")]

mod common;

use std::sync::{Arc, OnceLock};

use common::*;
use p3_baby_bear::BabyBear;
use p3_commit::Mmcs;
use p3_dft::{Radix2DitParallel, TwoAdicSubgroupDft};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_matrix::Matrix;
use p3_matrix::bitrev::BitReversibleMatrix;
use p3_symmetric::Permutation;
use zkbox_accel::{
    AccelError, Backend, BackendKind, CudaBackend, DeviceDft, DeviceMmcs, Direction, RowOrder,
    reference_mmcs,
};

/// `cuda:0` with every fresh buffer poisoned, shared by this binary's tests; `None` (with the
/// reason printed) when this machine has no CUDA device.
fn cuda() -> Option<Arc<CudaBackend>> {
    static SHARED: OnceLock<Option<Arc<CudaBackend>>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let found = zkbox_accel::discover();
            if !found
                .devices
                .iter()
                .any(|d| d.id.backend == BackendKind::Cuda)
            {
                let reasons: Vec<String> = found
                    .skipped
                    .iter()
                    .filter(|s| s.backend == BackendKind::Cuda)
                    .map(|s| s.reason.clone())
                    .collect();
                eprintln!(
                    "skipping CUDA checks: no CUDA device ({})",
                    reasons.join("; ")
                );
                return None;
            }
            let backend = CudaBackend::open(0)
                .unwrap_or_else(|err| panic!("cuda:0 is listed but does not open: {err}"));
            eprintln!("CUDA checks on {}", backend.info().name);
            Some(Arc::new(backend.poison_new_buffers(POISON)))
        })
        .clone()
}

#[test]
fn ntt_matches_plonky3() {
    let Some(backend) = cuda() else { return };
    let reference = Radix2DitParallel::<BabyBear>::default();
    let mut rng = rng(11);
    let orders = [RowOrder::Natural, RowOrder::BitReversed];
    // Around the shared-memory tile (2^8 rows) and the paired global stages after it.
    for log_n in [0, 1, 2, 5, 7, 8, 9, 10, 11, 12] {
        for width in [1, 3, 8, 9, 33] {
            let input = random_matrix(&mut rng, width, 1 << log_n);
            let forward = reference.dft_batch(input.clone()).to_row_major_matrix();
            let inverse = reference.idft_batch(input.clone());
            for (direction, expected_natural) in [
                (Direction::Forward, &forward),
                (Direction::Inverse, &inverse),
            ] {
                for input_order in orders {
                    for output_order in orders {
                        let host = in_order(input.clone(), input_order);
                        let mut matrix = backend
                            .upload(&host.values, width)
                            .unwrap()
                            .assume_order(input_order);
                        backend.ntt(&mut matrix, direction, output_order).unwrap();
                        let expected = in_order(expected_natural.clone(), output_order);
                        assert_eq!(matrix.order(), output_order);
                        assert!(
                            backend.download(&matrix).unwrap() == expected.values,
                            "{direction:?} NTT 2^{log_n} x {width}, {input_order:?} -> {output_order:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn coset_lde_matches_plonky3() {
    let Some(backend) = cuda() else { return };
    let reference = Radix2DitParallel::<BabyBear>::default();
    let mut rng = rng(12);
    let shifts = [BabyBear::GENERATOR, random_values(&mut rng, 1)[0]];
    for log_h in [0, 1, 3, 7, 8, 9, 12] {
        for added_bits in [0, 1, 3] {
            for width in [1, 3, 8, 64] {
                let input = random_matrix(&mut rng, width, 1 << log_h);
                for shift in shifts {
                    let expected = reference
                        .coset_lde_batch(input.clone(), added_bits, shift)
                        .bit_reverse_rows();
                    let evaluations = backend.upload(&input.values, width).unwrap();
                    let lde = backend.coset_lde(&evaluations, added_bits, shift).unwrap();
                    assert_eq!(lde.order(), RowOrder::BitReversed);
                    assert!(
                        backend.download(&lde).unwrap() == expected.values,
                        "coset LDE 2^{log_h} x {width} +{added_bits} bits"
                    );
                }
            }
        }
    }
}

/// A 2^25-row output: more than 65535 blocks of rows, so grids split over y and z.
#[test]
fn large_coset_lde_matches_the_cpu_backend() {
    let Some(backend) = cuda() else { return };
    let cpu = cpu();
    let mut rng = rng(13);
    let values = random_values(&mut rng, 1 << 24);
    let shift = BabyBear::GENERATOR;
    let expected = cpu
        .download(
            &cpu.coset_lde(&cpu.upload(&values, 1).unwrap(), 1, shift)
                .unwrap(),
        )
        .unwrap();
    let lde = backend
        .coset_lde(&backend.upload(&values, 1).unwrap(), 1, shift)
        .unwrap();
    assert!(backend.download(&lde).unwrap() == expected);
}

#[test]
fn dft_adapter_matches_plonky3() {
    let Some(backend) = cuda() else { return };
    let reference = Radix2DitParallel::<BabyBear>::default();
    let adapter = DeviceDft::new(backend);
    let mut rng = rng(14);
    for (log_n, width) in [(0, 2), (4, 1), (9, 5)] {
        let input = random_matrix(&mut rng, width, 1 << log_n);
        assert_eq!(
            adapter.dft_batch(input.clone()).bit_reverse_rows().values,
            reference.dft_batch(input.clone()).bit_reverse_rows().values
        );
        assert_eq!(
            adapter.idft_batch(input.clone()),
            reference.idft_batch(input.clone())
        );
        assert_eq!(
            adapter
                .coset_lde_batch(input.clone(), 2, BabyBear::GENERATOR)
                .bit_reverse_rows()
                .values,
            reference
                .coset_lde_batch(input, 2, BabyBear::GENERATOR)
                .bit_reverse_rows()
                .values
        );
    }
    assert_eq!(adapter.host_fallbacks(), 0, "nothing fell back to the host");
}

#[test]
fn poseidon2_matches_plonky3() {
    let Some(backend) = cuda() else { return };
    let permutation = p3_baby_bear::default_babybear_poseidon2_16();
    let mut rng = rng(15);
    let states: Vec<[BabyBear; 16]> = (0..1000)
        .map(|_| core::array::from_fn(|_| random_values(&mut rng, 1)[0]))
        .collect();
    let expected: Vec<_> = states.iter().map(|&s| permutation.permute(s)).collect();
    assert_eq!(backend.poseidon2_permute(&states).unwrap(), expected);
}

#[test]
fn merkle_trees_match_plonky3() {
    let Some(backend) = cuda() else { return };
    let batches: Vec<Vec<(usize, usize)>> = vec![
        vec![(1, 1)],
        vec![(5, 1)],
        vec![(7, 32)],
        vec![(8, 16)],
        vec![(9, 16)],
        vec![(33, 128)],
        vec![(256, 1024)],
        vec![(3, 16), (5, 16)],
        vec![(5, 32), (3, 32), (7, 8), (2, 1), (4, 8)],
        vec![(2, 4), (9, 4096)],
    ];
    for (seed, shapes) in batches.iter().enumerate() {
        let mut rng = rng(200 + seed as u64);
        let matrices: Vec<_> = shapes
            .iter()
            .map(|&(width, height)| random_matrix(&mut rng, width, height))
            .collect();
        let max_height = matrices.iter().map(|m| m.height()).max().unwrap();
        let tree = backend
            .merkle_tree(
                matrices
                    .iter()
                    .map(|m| backend.upload(&m.values, m.width).unwrap())
                    .collect(),
            )
            .unwrap();
        for cap_height in [0, 1, 3] {
            let (expected_cap, _) = reference_mmcs(cap_height).commit(matrices.clone());
            assert_eq!(
                backend.merkle_cap(&tree, cap_height).unwrap(),
                expected_cap.roots(),
                "cap {cap_height} of {shapes:?}"
            );
        }
        let reference = reference_mmcs(0);
        let (_, reference_tree) = reference.commit(matrices.clone());
        for index in [0, max_height / 2, max_height - 1] {
            assert_eq!(
                backend.merkle_path(&tree, index).unwrap(),
                reference.open_batch(index, &reference_tree).opening_proof,
                "path {index} of {shapes:?}"
            );
        }
        let adapter = DeviceMmcs::new(backend.clone(), 0);
        let (commit, _) = adapter.commit(matrices.clone());
        assert_eq!(
            commit,
            reference.commit(matrices).0,
            "adapter on {shapes:?}"
        );
    }
}

#[test]
fn commits_to_ldes_like_the_pcs() {
    let Some(backend) = cuda() else { return };
    assert_eq!(check_commit_lde(backend), 0);
}

#[test]
fn splits_quotients_into_chunks_like_plonky3() {
    let Some(backend) = cuda() else { return };
    check_quotient_chunks(&*backend);
}

#[test]
fn gathers_the_rows_asked_for() {
    let Some(backend) = cuda() else { return };
    check_gathered_rows(&*backend);
}

#[test]
fn folds_like_plonky3() {
    let Some(backend) = cuda() else { return };
    check_fri_fold(&*backend, 16);
}

#[test]
fn opens_like_the_host() {
    let Some(backend) = cuda() else { return };
    check_deep(&*backend);
}

#[test]
fn bad_input_is_a_typed_error() {
    let Some(backend) = cuda() else { return };
    let mut rng = rng(16);
    let values = random_values(&mut rng, 12 * 3);
    let mut twelve_rows = backend.upload(&values, 3).unwrap();
    assert!(matches!(
        backend.ntt(&mut twelve_rows, Direction::Forward, RowOrder::Natural),
        Err(AccelError::HeightNotPowerOfTwo { height: 12 })
    ));
    assert!(matches!(
        backend.upload(&values, 5),
        Err(AccelError::RaggedMatrix { .. })
    ));
    assert!(matches!(
        backend.merkle_tree(vec![twelve_rows]),
        Err(AccelError::UnsupportedTreeHeights { .. })
    ));
    // One row of 1024 columns extended by 2^26: 256 GiB, more than any GPU has.
    let wide_row = backend
        .upload(&random_values(&mut rng, 1024), 1024)
        .unwrap();
    match backend.coset_lde(&wide_row, 26, BabyBear::ONE) {
        Err(AccelError::OutOfDeviceMemory { device, .. }) => {
            assert_eq!(device, backend.info().id)
        }
        other => panic!("expected OutOfDeviceMemory, got {other:?}"),
    }
    // The backend still works after refusing.
    let small = backend.upload(&values[..8], 1).unwrap();
    assert_eq!(backend.download(&small).unwrap(), values[..8]);
}

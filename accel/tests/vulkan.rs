//! The Vulkan backend equals Plonky3 (through the CPU backend's reference paths): NTT and
//! inverse NTT in every row-order combination, coset LDE, the Poseidon2 permutation, Merkle
//! trees (caps, paths), FRI folding rounds and the `DeviceDft`/`DeviceMmcs` adapters; bad input and exhausted
//! memory are typed errors naming the device; a machine without a Vulkan driver lists the
//! backend as skipped.
//!
//! Runs on the first Vulkan device — Mesa's lavapipe (CPU) in CI — with every fresh device
//! buffer poisoned, so an element no shader wrote fails the download. Sizes are small
//! (lavapipe is slow) but straddle each strategy change: the shared-memory tile alone, the
//! tile plus one single stage, the tile plus radix-4 passes with and without a single stage.
//! Without a Vulkan device the checks are skipped with a message, except under CI
//! (`CI=true`), where that is a failure.

#![cfg(feature = "vulkan")]

mod common;

use std::sync::{Arc, OnceLock};

use common::*;
use p3_baby_bear::BabyBear;
use p3_commit::{BatchOpeningRef, Mmcs};
use p3_dft::{Radix2DitParallel, TwoAdicSubgroupDft};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_matrix::Matrix;
use p3_matrix::bitrev::BitReversibleMatrix;
use p3_matrix::dense::RowMajorMatrix;
use p3_symmetric::Permutation;
use zkbox_accel::{
    AccelError, Backend, BackendKind, DeviceDft, DeviceId, DeviceMmcs, Direction, RowOrder,
    VulkanBackend, discover, reference_mmcs,
};

const ORDERS: [RowOrder; 2] = [RowOrder::Natural, RowOrder::BitReversed];

/// The first Vulkan device, every fresh buffer poisoned, shared by this binary's tests.
fn vulkan() -> Option<Arc<VulkanBackend>> {
    static SHARED: OnceLock<Option<Arc<VulkanBackend>>> = OnceLock::new();
    SHARED
        .get_or_init(|| match VulkanBackend::open(0) {
            Ok(backend) => Some(Arc::new(backend.poison_new_buffers(POISON))),
            Err(err) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!(
                    "skipping the Vulkan checks: {err} (install mesa-vulkan-drivers, see \
                     scripts/setup.sh; under CI=true this fails)"
                );
                None
            }
            Err(err) => {
                panic!("no Vulkan device under CI (scripts/setup.sh installs lavapipe): {err}")
            }
        })
        .clone()
}

/// log2 heights around the device's tile: tile only (several sizes), exactly the tile, tile
/// + one stage, tile + a radix-4 pass, tile + radix-4 + one stage.
fn ntt_log_sizes(tile_log: usize) -> Vec<usize> {
    let mut sizes = vec![
        0,
        1,
        2,
        3,
        tile_log - 1,
        tile_log,
        tile_log + 1,
        tile_log + 2,
        tile_log + 3,
    ];
    sizes.dedup();
    sizes
}

#[test]
fn vulkan_ntt_matches_plonky3() {
    let Some(backend) = vulkan() else { return };
    let reference = Radix2DitParallel::<BabyBear>::default();
    let mut rng = rng(11);
    for log_n in ntt_log_sizes(backend.ntt_tile_log()) {
        for width in [1, 3, 4, 5] {
            let input = random_matrix(&mut rng, width, 1 << log_n);
            let forward = reference.dft_batch(input.clone()).to_row_major_matrix();
            let inverse = reference.idft_batch(input.clone());
            for direction in [Direction::Forward, Direction::Inverse] {
                let expected_natural = match direction {
                    Direction::Forward => &forward,
                    Direction::Inverse => &inverse,
                };
                for input_order in ORDERS {
                    for output_order in ORDERS {
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
                            "{}: {direction:?} NTT 2^{log_n} x {width}, {input_order:?} -> {output_order:?}",
                            backend.info().id
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn vulkan_coset_lde_matches_plonky3() {
    let Some(backend) = vulkan() else { return };
    let reference = Radix2DitParallel::<BabyBear>::default();
    let mut rng = rng(12);
    let shifts = [BabyBear::GENERATOR, random_values(&mut rng, 1)[0]];
    let tile_log = backend.ntt_tile_log();
    for log_h in [0, 1, 3, tile_log - 1, tile_log + 1] {
        for added_bits in [0, 1, 3] {
            for width in [1, 3, 8] {
                let input = random_matrix(&mut rng, width, 1 << log_h);
                for shift in shifts {
                    let expected = reference
                        .coset_lde_batch(input.clone(), added_bits, shift)
                        .bit_reverse_rows();
                    let evaluations = backend.upload(&input.values, width).unwrap();
                    let lde = backend.coset_lde(&evaluations, added_bits, shift).unwrap();
                    assert_eq!(lde.order(), RowOrder::BitReversed);
                    assert_eq!(lde.height(), expected.height());
                    assert!(
                        backend.download(&lde).unwrap() == expected.values,
                        "{}: coset LDE 2^{log_h} x {width} +{added_bits} bits",
                        backend.info().id
                    );
                }
            }
        }
    }
}

#[test]
fn vulkan_dft_adapter_matches_plonky3() {
    let Some(backend) = vulkan() else { return };
    let reference = Radix2DitParallel::<BabyBear>::default();
    let adapter = DeviceDft::new(backend);
    let mut rng = rng(13);
    for (log_n, width) in [(0, 2), (4, 1), (9, 5)] {
        let input = random_matrix(&mut rng, width, 1 << log_n);
        let shift = BabyBear::GENERATOR;
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
                .coset_lde_batch(input.clone(), 2, shift)
                .bit_reverse_rows()
                .values,
            reference
                .coset_lde_batch(input, 2, shift)
                .bit_reverse_rows()
                .values
        );
    }
    assert_eq!(adapter.host_fallbacks(), 0, "nothing fell back to the host");
}

#[test]
fn vulkan_poseidon2_matches_plonky3() {
    let Some(backend) = vulkan() else { return };
    let permutation = p3_baby_bear::default_babybear_poseidon2_16();
    let mut rng = rng(14);
    // More states than one work-group holds, and not a multiple of it.
    let states: Vec<[BabyBear; 16]> = (0..131)
        .map(|_| core::array::from_fn(|_| random_values(&mut rng, 1)[0]))
        .collect();
    let expected: Vec<_> = states.iter().map(|&s| permutation.permute(s)).collect();
    assert_eq!(backend.poseidon2_permute(&states).unwrap(), expected);
    assert!(backend.poseidon2_permute(&[]).unwrap().is_empty());
}

/// Batches of (width, height): widths at the sponge's rate boundaries (7, 8, 9, 16), a single
/// row and a single column, heights above one leaf-hashing work-group (64, 128), several
/// matrices of one height (one absorbed stream) and shorter matrices injected above the leaves.
fn tree_batches() -> Vec<Vec<(usize, usize)>> {
    vec![
        vec![(1, 1)],
        vec![(5, 1)],
        vec![(1, 64)],
        vec![(7, 32)],
        vec![(8, 16)],
        vec![(9, 16)],
        vec![(16, 8)],
        vec![(33, 128)],
        vec![(3, 16), (5, 16)],
        vec![(8, 8), (8, 8), (1, 8)],
        vec![(5, 32), (3, 32), (7, 8), (2, 1), (4, 8)],
        vec![(2, 4), (9, 64)],
    ]
}

fn random_batch(seed: u64, shapes: &[(usize, usize)]) -> Vec<RowMajorMatrix<BabyBear>> {
    let mut rng = rng(seed);
    shapes
        .iter()
        .map(|&(width, height)| random_matrix(&mut rng, width, height))
        .collect()
}

#[test]
fn vulkan_trees_match_plonky3() {
    let Some(backend) = vulkan() else { return };
    for (seed, shapes) in tree_batches().iter().enumerate() {
        let matrices = random_batch(200 + seed as u64, shapes);
        let max_height = matrices.iter().map(|m| m.height()).max().unwrap();
        let on_device: Vec<_> = matrices
            .iter()
            .map(|m| backend.upload(&m.values, m.width).unwrap())
            .collect();
        let tree = backend.merkle_tree(on_device).unwrap();
        assert_eq!(tree.leaves().len(), shapes.len());
        for cap_height in [0, 1, 3] {
            let (expected_cap, _) = reference_mmcs(cap_height).commit(matrices.clone());
            assert_eq!(
                backend.merkle_cap(&tree, cap_height).unwrap(),
                expected_cap.roots(),
                "{}: cap {cap_height} of {shapes:?}",
                backend.info().id
            );
        }
        let reference = reference_mmcs(0);
        let (_, reference_tree) = reference.commit(matrices.clone());
        for index in [0, max_height / 2, max_height - 1] {
            let path = backend.merkle_path(&tree, index).unwrap();
            assert_eq!(path.len(), max_height.trailing_zeros() as usize);
            assert_eq!(
                path,
                reference.open_batch(index, &reference_tree).opening_proof,
                "{}: path {index} of {shapes:?}",
                backend.info().id
            );
        }
        assert!(matches!(
            backend.merkle_path(&tree, max_height),
            Err(AccelError::LeafIndexOutOfRange { .. })
        ));
    }
}

#[test]
fn vulkan_mmcs_adapter_matches_merkle_tree_mmcs() {
    let Some(backend) = vulkan() else { return };
    for (seed, shapes) in [vec![(9, 64)], vec![(5, 32), (3, 32), (7, 8), (2, 1)]]
        .iter()
        .enumerate()
    {
        let matrices = random_batch(300 + seed as u64, shapes);
        let max_height = matrices.iter().map(|m| m.height()).max().unwrap();
        let dimensions: Vec<_> = matrices.iter().map(|m| m.dimensions()).collect();
        let reference = reference_mmcs(1);
        let adapter = DeviceMmcs::new(backend.clone(), 1);
        let (expected_commit, expected_data) = reference.commit(matrices.clone());
        let (commit, data) = adapter.commit(matrices.clone());
        assert_eq!(commit, expected_commit, "commit of {shapes:?}");
        for index in [0, max_height - 1, max_height / 3] {
            let expected = reference.open_batch(index, &expected_data);
            let opening = adapter.open_batch(index, &data);
            assert_eq!(opening.opened_values, expected.opened_values);
            assert_eq!(opening.opening_proof, expected.opening_proof);
            adapter
                .verify_batch(&commit, &dimensions, index, BatchOpeningRef::from(&opening))
                .unwrap();
        }
    }
}

#[test]
fn vulkan_commits_to_ldes_like_the_pcs() {
    let Some(backend) = vulkan() else { return };
    assert_eq!(check_commit_lde(backend), 0);
}

#[test]
fn vulkan_splits_quotients_into_chunks_like_plonky3() {
    let Some(backend) = vulkan() else { return };
    check_quotient_chunks(&*backend);
}

#[test]
fn vulkan_gathers_the_rows_asked_for() {
    let Some(backend) = vulkan() else { return };
    check_gathered_rows(&*backend);
}

#[test]
fn vulkan_folds_like_plonky3() {
    let Some(backend) = vulkan() else { return };
    check_fri_fold(&*backend, 9);
}

#[test]
fn vulkan_opens_like_the_host() {
    let Some(backend) = vulkan() else { return };
    check_deep(&*backend);
}

#[test]
fn vulkan_rejects_bad_input_with_typed_errors() {
    let Some(backend) = vulkan() else { return };
    let mut rng = rng(15);
    let values = random_values(&mut rng, 12 * 3);
    let mut twelve_rows = backend.upload(&values, 3).unwrap();
    assert!(matches!(
        backend.ntt(&mut twelve_rows, Direction::Forward, RowOrder::Natural),
        Err(AccelError::HeightNotPowerOfTwo { height: 12 })
    ));
    assert!(matches!(
        backend.coset_lde(&twelve_rows, 1, BabyBear::ONE),
        Err(AccelError::HeightNotPowerOfTwo { height: 12 })
    ));
    assert!(matches!(
        backend.upload(&[], 0),
        Err(AccelError::EmptyMatrix { .. })
    ));
    assert!(matches!(
        backend.upload(&values, 5),
        Err(AccelError::RaggedMatrix { .. })
    ));
    let mut small = backend.upload(&values[..8], 1).unwrap();
    assert!(matches!(
        backend.copy_into(&twelve_rows, &mut small),
        Err(AccelError::ShapeMismatch { .. })
    ));
    let bit_reversed_copy = backend
        .upload(&values[8..16], 1)
        .unwrap()
        .assume_order(RowOrder::BitReversed);
    backend.copy_into(&bit_reversed_copy, &mut small).unwrap();
    assert_eq!(backend.download(&small).unwrap(), values[8..16]);
    assert_eq!(small.order(), RowOrder::BitReversed);
    assert!(matches!(
        backend.coset_lde(&small, 1, BabyBear::ONE),
        Err(AccelError::WrongRowOrder { .. })
    ));
    let small = small.assume_order(RowOrder::Natural);
    assert!(matches!(
        backend.coset_lde(&small, 25, BabyBear::ONE),
        Err(AccelError::SizeBeyondTwoAdicity { log_size: 28, .. })
    ));
    let six_rows = backend.upload(&values[..12], 2).unwrap();
    assert!(matches!(
        backend.merkle_tree(vec![six_rows]),
        Err(AccelError::UnsupportedTreeHeights { .. })
    ));
    assert!(matches!(
        backend.merkle_tree(Vec::new()),
        Err(AccelError::UnsupportedTreeHeights { .. })
    ));
    backend.synchronize().unwrap();
}

#[test]
fn vulkan_reports_exhausted_memory_naming_the_device() {
    let Some(backend) = vulkan() else { return };
    let mut rng = rng(16);
    // One row of 1024 columns extended by 2^27: 512 GiB, more than any device binds.
    let wide_row = backend
        .upload(&random_values(&mut rng, 1024), 1024)
        .unwrap();
    match backend.coset_lde(&wide_row, 27, BabyBear::ONE) {
        Err(AccelError::OutOfDeviceMemory {
            device,
            requested_bytes,
            ..
        }) => {
            assert_eq!(device, backend.info().id);
            assert_eq!(requested_bytes, (1024 * 4) << 27);
        }
        other => panic!("expected OutOfDeviceMemory, got {other:?}"),
    }
    // The backend is still usable afterwards.
    assert_eq!(backend.download(&wide_row).unwrap().len(), 1024);
}

#[test]
fn vulkan_devices_are_listed_with_name_memory_and_driver() {
    let Some(backend) = vulkan() else { return };
    let found = discover();
    let listed = found
        .devices
        .iter()
        .find(|d| d.id == backend.info().id)
        .expect("discovery lists the device the tests run on");
    assert_eq!(listed, backend.info());
    assert!(!listed.name.is_empty() && listed.name != "unknown");
    assert!(!listed.driver.is_empty());
    assert!(
        listed.platform.starts_with("Vulkan "),
        "{}",
        listed.platform
    );
    assert!(listed.memory_bytes > 0);
    assert!(
        found
            .skipped
            .iter()
            .all(|s| s.backend != BackendKind::Vulkan)
    );
    let missing = DeviceId {
        backend: BackendKind::Vulkan,
        index: 999,
    };
    assert!(matches!(
        VulkanBackend::open(999),
        Err(AccelError::NoSuchDevice { device }) if device == missing
    ));
}

/// Several backends opened and used from several threads at once (as parallel tests and a
/// multi-device prover do) all compute correct results.
#[test]
fn vulkan_backends_open_and_run_concurrently() {
    let Some(shared) = vulkan() else { return };
    let index = shared.info().id.index;
    let reference = Radix2DitParallel::<BabyBear>::default();
    std::thread::scope(|scope| {
        for seed in 0..3u64 {
            let reference = &reference;
            scope.spawn(move || {
                let backend = VulkanBackend::open(index).unwrap();
                let mut rng = rng(400 + seed);
                let input = random_matrix(&mut rng, 2, 64);
                let mut matrix = backend.upload(&input.values, 2).unwrap();
                backend
                    .ntt(&mut matrix, Direction::Forward, RowOrder::Natural)
                    .unwrap();
                let expected = reference.dft_batch(input).to_row_major_matrix();
                assert_eq!(backend.download(&matrix).unwrap(), expected.values);
            });
        }
    });
}

/// The variable that makes this binary's child process the "no driver" run.
const NO_DRIVER_CHILD: &str = "ZKBOX_ACCEL_TEST_NO_VULKAN_DRIVER";
/// What the child prints once its checks have passed.
const NO_DRIVER_MARKER: &str = "no-driver checks passed";

/// Runs [`no_driver_child`] in a child process whose Vulkan loader is pointed at a driver
/// manifest that does not exist, so it finds no driver.
#[test]
fn a_machine_without_a_vulkan_driver_skips_the_backend() {
    let run = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no_driver_child", "--ignored", "--nocapture"])
        .env(NO_DRIVER_CHILD, "1")
        .env("VK_ICD_FILENAMES", "/nonexistent/zkbox-no-such-icd.json")
        .env("VK_DRIVER_FILES", "/nonexistent/zkbox-no-such-icd.json")
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "child failed:\n{output}");
    assert!(
        output.contains(NO_DRIVER_MARKER),
        "the child did not run its checks:\n{output}"
    );
}

/// The child half of [`a_machine_without_a_vulkan_driver_skips_the_backend`]: discovery lists
/// the CPU and Vulkan as skipped with the reason; opening a device is a typed error.
#[test]
#[ignore = "run by a_machine_without_a_vulkan_driver_skips_the_backend in a child process"]
fn no_driver_child() {
    if std::env::var(NO_DRIVER_CHILD).as_deref() != Ok("1") {
        eprintln!(
            "nothing to do: this runs as the child of a_machine_without_a_vulkan_driver_skips_the_backend"
        );
        return;
    }
    let found = discover();
    assert_eq!(found.devices[0].id, DeviceId::CPU);
    assert!(
        found
            .devices
            .iter()
            .all(|d| d.id.backend != BackendKind::Vulkan)
    );
    let skipped: Vec<_> = found
        .skipped
        .iter()
        .filter(|s| s.backend == BackendKind::Vulkan)
        .collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].reason.contains("no Vulkan driver"),
        "{}",
        skipped[0].reason
    );
    assert!(matches!(
        VulkanBackend::open(0),
        Err(AccelError::BackendUnavailable {
            backend: BackendKind::Vulkan,
            ..
        })
    ));
    println!("{NO_DRIVER_MARKER}");
}

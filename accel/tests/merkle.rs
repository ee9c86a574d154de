//! Every backend's Poseidon2 Merkle trees equal Plonky3's `MerkleTreeMmcs` (Poseidon2
//! sponge leaves, truncated-permutation compression, arity 2): roots, caps and paths, and
//! the `DeviceMmcs` adapter's openings and pruned multi-openings; and the quotient chunks
//! a commitment is made of, split and extended on the device as the PCS does on the host.

mod common;

use std::sync::Arc;

use common::*;
use p3_baby_bear::BabyBear;
use p3_commit::{BatchOpeningRef, Mmcs};
use p3_matrix::Matrix;
use p3_matrix::dense::RowMajorMatrix;
use zkbox_accel::{AccelError, Backend, DeviceMmcs, reference_mmcs};

/// Batches of (width, height): one matrix per shape at the sponge's rate boundaries (7, 8,
/// 9 and 16 columns), a single row and a single column, several matrices of one height
/// (their rows absorbed as one stream) and shorter matrices injected above the leaves.
fn batches() -> Vec<Vec<(usize, usize)>> {
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

fn check_trees<B: Backend>(backend: &B) {
    for (seed, shapes) in batches().iter().enumerate() {
        let matrices = random_batch(seed as u64, shapes);
        let max_height = matrices.iter().map(|m| m.height()).max().unwrap();
        let on_device: Vec<_> = matrices
            .iter()
            .map(|m| backend.upload(&m.values, m.width).unwrap())
            .collect();
        let tree = backend.merkle_tree(on_device).unwrap();
        let depth = max_height.trailing_zeros() as usize;
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
            assert_eq!(path.len(), depth);
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

fn check_adapter<B: Backend + 'static>(backend: Arc<B>) {
    for (seed, shapes) in batches().iter().enumerate() {
        let matrices = random_batch(100 + seed as u64, shapes);
        let max_height = matrices.iter().map(|m| m.height()).max().unwrap();
        let dimensions: Vec<_> = matrices.iter().map(|m| m.dimensions()).collect();
        for cap_height in [0, 2] {
            let reference = reference_mmcs(cap_height);
            let adapter = DeviceMmcs::new(backend.clone(), cap_height);
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
            let indices = [max_height - 1, 0, max_height / 2, 0, max_height / 2 + 1];
            let indices = &indices[..indices.len().min(max_height + 1)];
            let indices: Vec<usize> = indices.iter().map(|&i| i % max_height).collect();
            let (expected_values, expected_proof) =
                reference.open_multi_batch(&indices, &expected_data);
            let (values, proof) = adapter.open_multi_batch(&indices, &data);
            assert_eq!(values, expected_values);
            assert_eq!(
                proof.sibling_hashes, expected_proof.sibling_hashes,
                "{shapes:?} {indices:?}"
            );
            adapter
                .verify_multi_batch(&commit, &dimensions, &indices, &values, &proof)
                .unwrap();
        }
    }
}

fn check_bad_input<B: Backend>(backend: &B) {
    let mut rng = rng(9);
    let six_rows = backend.upload(&random_values(&mut rng, 12), 2).unwrap();
    assert!(matches!(
        backend.merkle_tree(vec![six_rows]),
        Err(AccelError::UnsupportedTreeHeights { .. })
    ));
    assert!(matches!(
        backend.merkle_tree(Vec::new()),
        Err(AccelError::UnsupportedTreeHeights { .. })
    ));
}

#[test]
fn cpu_trees_match_plonky3() {
    check_trees(&*cpu());
}

#[test]
fn cpu_adapter_matches_merkle_tree_mmcs() {
    check_adapter(cpu());
}

/// On the CPU backend, whose memory is the host's, a commitment keeps the matrices it was
/// given and no copy of them: the host reads the very allocations it handed over, and
/// nothing is "on the device" besides.
#[test]
fn cpu_commitments_keep_the_matrices_given_without_a_copy() {
    let backend = cpu();
    assert!(backend.memory_is_host());
    let matrices = random_batch(7, &[(8, 64), (3, 32), (5, 64)]);
    let addresses: Vec<*const BabyBear> = matrices.iter().map(|m| m.values.as_ptr()).collect();
    let expected = reference_mmcs(1).commit(matrices.clone()).0;
    let adapter = DeviceMmcs::new(backend, 1);
    let (commit, data) = adapter.commit(matrices);
    assert_eq!(commit, expected);
    let kept: Vec<*const BabyBear> = adapter
        .get_matrices(&data)
        .iter()
        .map(|m| m.values.as_ptr())
        .collect();
    assert_eq!(kept, addresses);
    assert!((0..3).all(|index| adapter.resident_matrix(&data, index).is_none()));
    assert_eq!(adapter.matrices_downloaded(), 0);
    assert_eq!(adapter.host_fallbacks(), 0);
}

#[test]
fn cpu_rejects_bad_trees() {
    check_bad_input(&*cpu());
}

#[test]
fn cpu_commits_to_ldes_like_the_pcs() {
    assert_eq!(check_commit_lde(cpu()), 0);
}

#[test]
fn cpu_splits_quotients_into_chunks_like_plonky3() {
    check_quotient_chunks(&*cpu());
}

#[test]
fn cpu_gathers_the_rows_asked_for() {
    check_gathered_rows(&*cpu());
}

/// Whichever call of `commit_lde` fails (an upload, an LDE, a download, the tree, the cap),
/// or all of them, the commitment and openings are the reference's and the step that
/// failed is counted as a host fallback.
#[test]
fn commit_lde_survives_every_device_fault() {
    use zkbox_accel::faulty::{Fault, FaultyBackend};
    // Per run of check_commit_lde: 2 x (3 matrices x upload and LDE, 3 downloads (the CPU
    // backend's trees keep no matrices), tree, cap, then the openings' Merkle paths).
    for fault in (0..22)
        .map(Fault::Once)
        .chain([Fault::From(0), Fault::From(7)])
    {
        let backend = Arc::new(FaultyBackend::new(zkbox_accel::CpuBackend::new(), fault));
        let fallbacks = check_commit_lde(backend.clone());
        assert!(backend.failures() > 0, "{fault:?} never fired");
        assert!(fallbacks > 0, "{fault:?}: no fallback counted");
    }
}

#[cfg(feature = "opencl")]
mod opencl {
    use p3_symmetric::Permutation;

    use super::*;

    #[test]
    fn opencl_poseidon2_matches_plonky3() {
        let Some(backend) = opencl() else { return };
        let permutation = p3_baby_bear::default_babybear_poseidon2_16();
        let mut rng = rng(7);
        let states: Vec<[BabyBear; 16]> = (0..37)
            .map(|_| core::array::from_fn(|_| random_values(&mut rng, 1)[0]))
            .collect();
        let expected: Vec<_> = states.iter().map(|&s| permutation.permute(s)).collect();
        assert_eq!(backend.poseidon2_permute(&states).unwrap(), expected);
    }

    #[test]
    fn opencl_trees_match_plonky3() {
        if let Some(backend) = opencl() {
            check_trees(&*backend);
        }
    }

    #[test]
    fn opencl_adapter_matches_merkle_tree_mmcs() {
        if let Some(backend) = opencl() {
            check_adapter(backend);
        }
    }

    #[test]
    fn opencl_commits_to_ldes_like_the_pcs() {
        if let Some(backend) = opencl() {
            assert_eq!(check_commit_lde(backend), 0);
        }
    }

    #[test]
    fn opencl_splits_quotients_into_chunks_like_plonky3() {
        if let Some(backend) = opencl() {
            check_quotient_chunks(&*backend);
        }
    }

    #[test]
    fn opencl_gathers_the_rows_asked_for() {
        if let Some(backend) = opencl() {
            check_gathered_rows(&*backend);
        }
    }

    #[test]
    fn opencl_rejects_bad_trees() {
        if let Some(backend) = opencl() {
            check_bad_input(&*backend);
        }
    }

    /// A device gone right after committing LDEs it alone holds: an opening can neither
    /// gather the rows there nor bring the matrix back, so the MMCS stops with a
    /// `DeviceFailure` naming the device (which the prover reports as a device error)
    /// instead of answering anything. A device that fails only once (here: the first
    /// path read) recovers: the host rebuilds the tree from both matrices brought back
    /// whole, counted, and answers as the reference does.
    #[test]
    fn opencl_device_lost_after_commit_is_a_device_failure() {
        use p3_commit::Mmcs;
        use p3_field::Field;
        use zkbox_accel::faulty::{Fault, FaultyBackend};
        use zkbox_accel::{Backend, DeviceFailure, DeviceMmcs, OpenClBackend};

        if opencl().is_none() {
            return;
        }
        let evaluations = || {
            let mut rng = rng(5);
            (0..2)
                .map(|_| (random_matrix(&mut rng, 3, 16), BabyBear::GENERATOR))
                .collect::<Vec<_>>()
        };
        // Two matrices: upload and LDE each, then the tree and its cap.
        let commit_calls = 6;
        let reference = DeviceMmcs::new(Arc::new(OpenClBackend::open(0).unwrap()), 0);
        let (_, reference_data) = reference.commit_lde(evaluations(), 1);
        let expected = reference.open_batch(5, &reference_data);

        let once = Arc::new(FaultyBackend::new(
            OpenClBackend::open(0).unwrap(),
            Fault::Once(commit_calls),
        ));
        let mmcs = DeviceMmcs::new(once.clone(), 0);
        let (_, data) = mmcs.commit_lde(evaluations(), 1);
        let opening = mmcs.open_batch(5, &data);
        assert_eq!(opening.opened_values, expected.opened_values);
        assert_eq!(opening.opening_proof, expected.opening_proof);
        assert_eq!(once.failures(), 1);
        assert_eq!(
            mmcs.matrices_downloaded(),
            2,
            "both matrices came back whole"
        );
        assert_eq!(mmcs.host_fallbacks(), 1, "the path read handed to the host");

        let gone = Arc::new(FaultyBackend::new(
            OpenClBackend::open(0).unwrap(),
            Fault::From(commit_calls),
        ));
        let device = gone.info().id;
        let mmcs = DeviceMmcs::new(gone.clone(), 0);
        let (_, data) = mmcs.commit_lde(evaluations(), 1);
        assert_eq!(mmcs.host_fallbacks(), 0, "the commitment itself succeeded");
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| mmcs.open_batch(5, &data)));
        let payload = outcome.err().expect("an opening with the device gone");
        let failure = payload
            .downcast::<DeviceFailure>()
            .expect("a DeviceFailure payload");
        assert_eq!(failure.device, device);
        assert!(matches!(
            failure.source,
            zkbox_accel::AccelError::DeviceLost { .. }
        ));
    }
}

//! An unmodified Plonky3 `uni-stark` prover runs through the adapters: the proof of a
//! Fibonacci AIR made with `DeviceDft` + `DeviceMmcs` verifies and serialises to exactly the
//! bytes of the proof made with Plonky3's own `Radix2DitParallel` + `MerkleTreeMmcs`.

mod common;

use std::sync::Arc;

use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_baby_bear::{BabyBear, Poseidon2BabyBear, default_babybear_poseidon2_16};
use p3_challenger::DuplexChallenger;
use p3_commit::ExtensionMmcs;
use p3_dft::Radix2DitParallel;
use p3_field::PrimeCharacteristicRing;
use p3_field::extension::BinomialExtensionField;
use p3_fri::{FriParameters, TwoAdicFriPcs};
use p3_matrix::dense::RowMajorMatrix;
use p3_uni_stark::{StarkConfig, prove, verify};
use zkbox_accel::{Backend, DeviceDft, DeviceMmcs, reference_mmcs};

type Challenge = BinomialExtensionField<BabyBear, 4>;
type Challenger = DuplexChallenger<BabyBear, Poseidon2BabyBear<16>, 16, 8>;

/// Two columns (a, b); each row is the next pair of the Fibonacci sequence, the first row
/// is (0, 1) and the public value is b of the last row.
struct FibonacciAir;

impl<F> BaseAir<F> for FibonacciAir {
    fn width(&self) -> usize {
        2
    }

    fn num_public_values(&self) -> usize {
        1
    }
}

impl<AB: AirBuilder> Air<AB> for FibonacciAir {
    fn eval(&self, builder: &mut AB) {
        let main = builder.main();
        let last_b = builder.public_values()[0];
        let (a, b) = (main.current_slice()[0], main.current_slice()[1]);
        let (next_a, next_b) = (main.next_slice()[0], main.next_slice()[1]);
        builder.when_first_row().assert_zero(a);
        builder.when_first_row().assert_one(b);
        builder.when_transition().assert_eq(next_a, b);
        builder.when_transition().assert_eq(next_b, a + b);
        builder.when_last_row().assert_eq(b, last_b);
    }
}

fn fibonacci_trace(rows: usize) -> (RowMajorMatrix<BabyBear>, BabyBear) {
    let mut values = Vec::with_capacity(rows * 2);
    let (mut a, mut b) = (BabyBear::ZERO, BabyBear::ONE);
    for _ in 0..rows {
        values.extend([a, b]);
        (a, b) = (b, a + b);
    }
    let last_b = values[values.len() - 1];
    (RowMajorMatrix::new(values, 2), last_b)
}

/// Proves and verifies the Fibonacci AIR with the given DFT and Merkle commitment (any
/// types; a macro because Plonky3's configuration bounds do not abstract well), and
/// evaluates to the proof serialised as JSON.
macro_rules! prove_fibonacci {
    ($dft:expr, $mmcs:expr) => {{
        let mmcs = $mmcs;
        let fri = FriParameters {
            log_blowup: 2,
            log_final_poly_len: 0,
            max_log_arity: 1,
            num_queries: 16,
            batch_proof_of_work_bits: 0,
            commit_proof_of_work_bits: 0,
            query_proof_of_work_bits: 0,
            mmcs: ExtensionMmcs::<BabyBear, Challenge, _>::new(mmcs.clone()),
        };
        let pcs = TwoAdicFriPcs::new($dft, mmcs, fri);
        let config = StarkConfig::<_, Challenge, _>::new(
            pcs,
            Challenger::new(default_babybear_poseidon2_16()),
        );
        let (trace, last_b) = fibonacci_trace(1 << 7);
        let proof = prove(&config, &FibonacciAir, trace, &[last_b]).expect("proving");
        verify(&config, &FibonacciAir, &proof, &[last_b]).expect("the proof verifies");
        serde_json::to_vec(&proof).expect("serialising the proof")
    }};
}

fn check_same_proof_as_plonky3<B: Backend + 'static>(backend: Arc<B>) {
    let expected = prove_fibonacci!(Radix2DitParallel::<BabyBear>::default(), reference_mmcs(0));
    let dft = DeviceDft::new(backend.clone());
    let mmcs = DeviceMmcs::new(backend, 0);
    let on_device = prove_fibonacci!(dft.clone(), mmcs.clone());
    assert_eq!(dft.host_fallbacks(), 0, "a transform fell back to the host");
    assert_eq!(
        mmcs.host_fallbacks(),
        0,
        "a commitment fell back to the host"
    );
    assert!(
        on_device == expected,
        "the adapters' proof differs from Plonky3's"
    );
}

#[test]
fn cpu_adapters_prove_the_same_bytes_as_plonky3() {
    check_same_proof_as_plonky3(common::cpu());
}

#[cfg(feature = "opencl")]
#[test]
fn opencl_adapters_prove_the_same_bytes_as_plonky3() {
    if let Some(backend) = common::opencl() {
        check_same_proof_as_plonky3(backend);
    }
}

//! The STARK configuration: BabyBear, its degree-4 extension, Poseidon2 Merkle commitments
//! and transcript, FRI — and the security those parameters give.
//!
//! Security is *conjectured* FRI security (the Ethereum Foundation's "toy problem" model used
//! by Plonky3, SP1 and RISC Zero): each query contributes `log_blowup` bits and grinding adds
//! its proof-of-work bits. [`SECURITY_BITS`] is that sum; `docs/proof-system.md` states it
//! with the proof size.

use std::sync::Arc;

use p3_baby_bear::{BabyBear, Poseidon2BabyBear, default_babybear_poseidon2_16};
use p3_commit::ExtensionMmcs;
use p3_dft::Radix2DitParallel;
use p3_field::Field;
use p3_field::extension::BinomialExtensionField;
use p3_fri::{FriParameters, TwoAdicFriPcs};
use p3_merkle_tree::MerkleTreeMmcs;
use p3_symmetric::{PaddingFreeSponge, TruncatedPermutation};
use p3_uni_stark::StarkConfig;
use zkbox_accel::{Backend, DeviceDft, DeviceMmcs};

/// The base field.
pub type Val = BabyBear;
/// The challenge field: BabyBear's degree-4 binomial extension (about 124 bits).
pub type Challenge = BinomialExtensionField<Val, 4>;
/// Poseidon2 over BabyBear, width 16, with Plonky3's default round constants.
pub type Perm = Poseidon2BabyBear<16>;
type Hash = PaddingFreeSponge<Perm, 16, 8, 8>;
type Compress = TruncatedPermutation<Perm, 2, 8, 16>;
/// Merkle commitments of base-field matrices: binary Poseidon2 trees with 8-element digests.
pub type ValMmcs =
    MerkleTreeMmcs<<Val as Field>::Packing, <Val as Field>::Packing, Hash, Compress, 2, 8>;
/// The Fiat-Shamir transcript: a Poseidon2 duplex sponge with deterministic grinding.
pub type Challenger = crate::transcript::Transcript;
/// The configuration with a given DFT (for LDEs) and Merkle commitment scheme. Every
/// instance that computes what Plonky3's `Radix2DitParallel` and [`ValMmcs`] compute makes
/// the same proofs, byte for byte.
pub type ConfigWith<Dft, Mmcs> = StarkConfig<
    TwoAdicFriPcs<Val, Dft, Mmcs, ExtensionMmcs<Val, Challenge, Mmcs>>,
    Challenge,
    Challenger,
>;
/// The whole STARK configuration every zkbox proof uses, on the CPU with Plonky3's own DFT
/// and Merkle trees; the verifier always uses this one.
pub type ZkboxConfig = ConfigWith<Radix2DitParallel<Val>, ValMmcs>;
/// The configuration with LDEs and Merkle trees on an accel backend.
pub type DeviceConfig<B> = ConfigWith<DeviceDft<B>, DeviceMmcs<B>>;

/// log2 of the FRI blowup factor (rate 1/2). Constraints are kept at degree ≤ 3, whose
/// quotient splits into two chunks and so fits a blowup of 2.
pub const LOG_BLOWUP: usize = 1;
/// FRI queries; with [`LOG_BLOWUP`] each contributes one bit of conjectured security.
pub const NUM_QUERIES: usize = 84;
/// Proof-of-work bits ground before the query phase.
pub const QUERY_POW_BITS: usize = 16;
/// Proof-of-work bits ground before each folding challenge.
pub const COMMIT_POW_BITS: usize = 0;
/// log2 of the largest arity of a FRI folding round: folding by up to 8 at once takes a
/// Merkle path per round and query off the proof (binary folding: 851 KiB, 92 / 68 ms to
/// verify; this: 806 KiB, 79 / 64 ms, 2^18 integer mix on the 2-core VM); the conjectured
/// security per query is unchanged.
pub const MAX_LOG_ARITY: usize = 3;
/// Conjectured security of a zkbox proof in bits: `NUM_QUERIES * LOG_BLOWUP + QUERY_POW_BITS`,
/// capped by the challenge field (about 124 bits).
pub const SECURITY_BITS: usize = NUM_QUERIES * LOG_BLOWUP + QUERY_POW_BITS;

/// Builds the configuration. Prover and verifier must use the same one; it is a pure
/// function of the constants above.
pub fn stark_config() -> ZkboxConfig {
    config_with(Radix2DitParallel::default(), host_mmcs())
}

/// The Merkle commitment scheme of [`stark_config`] (cap height 0).
pub fn host_mmcs() -> ValMmcs {
    let perm = default_babybear_poseidon2_16();
    ValMmcs::new(Hash::new(perm.clone()), Compress::new(perm), 0)
}

/// The configuration with LDEs and Merkle trees (trace commitments and FRI's folding
/// rounds) on `mmcs`'s backend, committing through `mmcs` (one of [`device_mmcs`]'s, whose
/// clones share its counts).
pub fn device_config<B: Backend + 'static>(mmcs: DeviceMmcs<B>) -> DeviceConfig<B> {
    config_with(DeviceDft::new(mmcs.backend().clone()), mmcs)
}

/// The Merkle commitment scheme of [`device_config`] on `backend` (cap height 0). The PCS
/// and FRI commit only bit-reversed rows, so its device copies say so.
pub fn device_mmcs<B: Backend + 'static>(backend: Arc<B>) -> DeviceMmcs<B> {
    DeviceMmcs::new(backend, 0).committing_bit_reversed_rows()
}

/// zkbox's FRI parameters, with FRI's round commitments made by `mmcs` (the input
/// matrices' scheme, over the extension). The final polynomial is a constant.
pub fn fri_parameters<Mmcs>(mmcs: Mmcs) -> FriParameters<ExtensionMmcs<Val, Challenge, Mmcs>> {
    FriParameters {
        log_blowup: LOG_BLOWUP,
        log_final_poly_len: 0,
        max_log_arity: MAX_LOG_ARITY,
        num_queries: NUM_QUERIES,
        batch_proof_of_work_bits: 0,
        commit_proof_of_work_bits: COMMIT_POW_BITS,
        query_proof_of_work_bits: QUERY_POW_BITS,
        mmcs: ExtensionMmcs::new(mmcs),
    }
}

/// The configuration around a DFT and a Merkle commitment scheme (cap height 0).
fn config_with<Dft: Clone, Mmcs: Clone>(dft: Dft, mmcs: Mmcs) -> ConfigWith<Dft, Mmcs> {
    let pcs = TwoAdicFriPcs::new(dft, mmcs.clone(), fri_parameters(mmcs));
    StarkConfig::new(pcs, Challenger::new(default_babybear_poseidon2_16()))
}

// The configuration above must give at least 100 bits; the build fails otherwise.
const _: () = assert!(SECURITY_BITS >= 100, "conjectured security below 100 bits");

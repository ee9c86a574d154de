//! The Fiat–Shamir transcript: Plonky3's Poseidon2 duplex challenger with deterministic
//! proof-of-work grinding.
//!
//! `DuplexChallenger::grind` searches candidates on all cores and keeps whichever valid
//! witness a thread finds first, so two proofs of the same run can differ in the witness and
//! in everything sampled after it. [`Transcript`] keeps the *smallest* valid witness (a
//! parallel search that still returns the first hit in candidate order), so a proof is a
//! function of the run alone: the same bytes on every run and on every device. Everything
//! else is the duplex challenger itself; the verifier's check is unchanged (observe the
//! witness, sample the bits, require zeros).

use p3_challenger::{CanObserve, CanSample, CanSampleBits, FieldChallenger, GrindingChallenger};
use p3_field::{BasedVectorSpace, PrimeCharacteristicRing, PrimeField64};
use p3_maybe_rayon::prelude::*;
use p3_symmetric::MerkleCap;

use crate::config::{Perm, Val};

type Duplex = p3_challenger::DuplexChallenger<Val, Perm, 16, 8>;

/// Candidates each parallel task checks in order.
const GRIND_BLOCK: u64 = 1 << 12;

/// The zkbox transcript (see the module documentation).
#[derive(Clone, Debug)]
pub struct Transcript(Duplex);

impl Transcript {
    /// A fresh transcript over the Poseidon2 permutation `perm`.
    pub fn new(perm: Perm) -> Self {
        Transcript(Duplex::new(perm))
    }
}

impl FieldChallenger<Val> for Transcript {}

impl CanObserve<Val> for Transcript {
    fn observe(&mut self, value: Val) {
        self.0.observe(value);
    }
}

impl<const N: usize> CanObserve<[Val; N]> for Transcript {
    fn observe(&mut self, values: [Val; N]) {
        self.0.observe(values);
    }
}

impl<const N: usize> CanObserve<MerkleCap<Val, [Val; N]>> for Transcript {
    fn observe(&mut self, cap: MerkleCap<Val, [Val; N]>) {
        self.0.observe(cap);
    }
}

impl<EF: BasedVectorSpace<Val>> CanSample<EF> for Transcript {
    fn sample(&mut self) -> EF {
        self.0.sample()
    }
}

impl CanSampleBits<usize> for Transcript {
    fn sample_bits(&mut self, bits: usize) -> usize {
        self.0.sample_bits(bits)
    }
}

impl GrindingChallenger for Transcript {
    type Witness = Val;

    /// The smallest witness `w` (as an integer below p) after which `bits` sampled bits are
    /// zero; the transcript then holds `w`, as the verifier's check will.
    fn grind(&mut self, bits: usize) -> Val {
        assert!(
            bits < 32,
            "proof-of-work of {bits} bits is beyond this field"
        );
        if bits == 0 {
            return Val::ZERO;
        }
        let order = Val::ORDER_U64;
        let blocks = order.div_ceil(GRIND_BLOCK);
        let passes = |candidate: u64| {
            let mut trial = self.0.clone();
            trial.check_witness(bits, Val::from_u64(candidate))
        };
        let witness = (0..blocks)
            .into_par_iter()
            .find_map_first(|block| {
                let start = block * GRIND_BLOCK;
                (start..(start + GRIND_BLOCK).min(order)).find(|&c| passes(c))
            })
            .expect("some field element satisfies the proof of work");
        let witness = Val::from_u64(witness);
        assert!(self.check_witness(bits, witness));
        witness
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p3_baby_bear::default_babybear_poseidon2_16;

    #[test]
    fn grinding_is_deterministic_minimal_and_checked_like_the_duplex_challenger() {
        let mut a = Transcript::new(default_babybear_poseidon2_16());
        a.observe(Val::from_u32(7));
        let reference = a.clone();
        let mut b = a.clone();
        let wa = a.grind(8);
        let wb = b.grind(8);
        assert_eq!(wa, wb);
        // Minimal: no smaller candidate passes.
        for c in 0..wa.as_canonical_u64() {
            let mut trial = reference.0.clone();
            assert!(!trial.check_witness(8, Val::from_u64(c)));
        }
        // The stock challenger accepts it and ends in the same state.
        let mut stock = reference.0.clone();
        assert!(stock.check_witness(8, wa));
        let next: Val = a.sample();
        assert_eq!(next, CanSample::<Val>::sample(&mut stock));
    }
}

//! The phases a block passes through in [`crate::verify_and_execute_observed`], so a caller
//! (the EVM guest) can account for the work of each: the guest turns every phase change into
//! a cycle marker, and the emulator charges cycles to phases.
//!
//! Order in a block: [`Phase::Decode`] → [`Phase::WitnessHashing`] → [`Phase::Recovery`] →
//! [`Phase::Execution`], interrupted by [`Phase::StateReads`] each time revm asks for an
//! account or a storage slot → [`Phase::StateRoot`] → [`Phase::Seal`].

/// One phase of witness verification and block execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Decoding the witness and the block's transactions.
    Decode,
    /// Hashing every witness node and code (keccak), so each can be found only by the hash
    /// its parent names: the check that binds the witness to the pre-state root.
    WitnessHashing,
    /// Checking transaction types and chain ids and recovering the senders (secp256k1).
    Recovery,
    /// Running the transactions in revm (interpreter, gas, journal, receipts).
    Execution,
    /// Reading an account or a slot out of the witness's tries (walking the proof from the
    /// pre-state root and decoding the leaf), on revm's request during execution.
    StateReads,
    /// Applying the block's changes to the tries and hashing the post-state root.
    StateRoot,
    /// The transactions and receipts roots, the logs bloom and the header hash.
    Seal,
}

impl Phase {
    /// Every phase, in the order a block first enters them.
    pub const ALL: [Phase; 7] = [
        Phase::Decode,
        Phase::WitnessHashing,
        Phase::Recovery,
        Phase::Execution,
        Phase::StateReads,
        Phase::StateRoot,
        Phase::Seal,
    ];

    /// A short lowercase name: the guest's cycle-marker tag for the phase.
    pub const fn name(self) -> &'static str {
        match self {
            Phase::Decode => "decode",
            Phase::WitnessHashing => "witness-hashing",
            Phase::Recovery => "recovery",
            Phase::Execution => "execution",
            Phase::StateReads => "state-reads",
            Phase::StateRoot => "state-root",
            Phase::Seal => "seal",
        }
    }

    /// The phase named `name` ([`Phase::name`]).
    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Told each time verification enters a phase (see the module docs). Calls are cheap and
/// frequent (two per state read), so an observer should do little: the EVM guest writes one
/// cycle marker. `()` observes nothing.
pub trait PhaseObserver {
    /// Verification enters `phase` now.
    fn enter(&mut self, phase: Phase);
}

impl PhaseObserver for () {
    #[inline(always)]
    fn enter(&mut self, _: Phase) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_round_trip() {
        for phase in Phase::ALL {
            assert_eq!(Phase::from_name(phase.name()), Some(phase));
        }
        assert_eq!(Phase::from_name("nothing"), None);
    }
}

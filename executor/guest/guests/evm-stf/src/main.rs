//! EVM state-transition function: the guest an EVM block proof proves.
//!
//! Input: one encoded block witness (`zkbox_evm::Witness::encode`, the whole private input).
//! The guest decodes it, checks every trie node and code against the pre-state root and
//! re-executes the block (`zkbox_evm::verify_and_execute`, the same function native tests
//! check), then commits `BlockOutput::commitment()`: 168 bytes, the pre-state root,
//! post-state root, block hash, transactions root and receipts root (32 bytes each) and the
//! gas used (8 bytes, big-endian).
//!
//! Exit codes: 0 success; 1 the input is not a witness (bad magic, version or RLP); 2 the
//! witness does not verify or the block is invalid (a missing or forged node or code, a bad
//! transaction, ...). On 1 and 2 the error is written to the debug log and nothing is
//! committed. 101 remains a panic, which would be a bug.
//!
//! Cycle markers (`zkbox_guest::cycle_marker!`): the guest marks every phase change of
//! `verify_and_execute_observed` with the phase's name (`zkbox_evm::Phase::name`), and
//! `commit` before committing, so the emulator can say where the cycles go
//! (`zkbox bench evm`). They are debug writes of a few cycles each, about two per state read.
#![no_std]
#![no_main]

extern crate alloc;

use zkbox_evm::{Phase, PhaseObserver, Witness, verify_and_execute_observed};

zkbox_guest::entry!(main);

/// Exit code for an input that does not decode as a witness.
const EXIT_BAD_WITNESS: i32 = 1;
/// Exit code for a witness that does not verify, or a block that does not execute.
const EXIT_INVALID_BLOCK: i32 = 2;

fn main() {
    let input = zkbox_guest::read_to_end();
    CycleMarkers.enter(Phase::Decode);
    let witness = match Witness::decode(&input) {
        Ok(witness) => witness,
        Err(e) => fail(EXIT_BAD_WITNESS, "malformed witness", &e),
    };
    match verify_and_execute_observed(&witness, &mut CycleMarkers) {
        Ok(output) => {
            zkbox_guest::cycle_marker!("commit");
            zkbox_guest::logln!(
                "evm-stf: block {} with {} transactions, gas used {}",
                witness.env.number,
                witness.transactions.len(),
                output.gas_used
            );
            zkbox_guest::commit(&output.commitment());
        }
        Err(e) => fail(EXIT_INVALID_BLOCK, "invalid block", &e),
    }
}

/// Logs `what: error` and exits with `code`.
fn fail(code: i32, what: &str, error: &zkbox_evm::Error) -> ! {
    zkbox_guest::logln!("evm-stf: {what}: {error}");
    zkbox_guest::exit(code)
}

/// Writes a cycle marker named after each phase entered.
struct CycleMarkers;

impl PhaseObserver for CycleMarkers {
    fn enter(&mut self, phase: Phase) {
        // Literals, so each marker is one write of a static line; the names are
        // `Phase::name`'s (tests/tests/evm_guest.rs checks that they agree).
        match phase {
            Phase::Decode => zkbox_guest::cycle_marker!("decode"),
            Phase::WitnessHashing => zkbox_guest::cycle_marker!("witness-hashing"),
            Phase::Recovery => zkbox_guest::cycle_marker!("recovery"),
            Phase::Execution => zkbox_guest::cycle_marker!("execution"),
            Phase::StateReads => zkbox_guest::cycle_marker!("state-reads"),
            Phase::StateRoot => zkbox_guest::cycle_marker!("state-root"),
            Phase::Seal => zkbox_guest::cycle_marker!("seal"),
        }
    }
}

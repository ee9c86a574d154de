//! The `keccakf` call in the emulator: random states (from the private input) come back
//! permuted as `keccak::permute` permutes them, repeated calls compose, the traced accesses
//! are the 50 reads then the 50 writes of the call's cycle, and every argument error names
//! the call's pc.

use zkbox_executor::asm::{self, li};
use zkbox_executor::keccak::{self, State};
use zkbox_executor::{ExecErrorKind, Executor, Program};

const BASE: u32 = 0x1_0000;
const DATA: u32 = 0x2_0000;
const S2: u32 = 18;

fn bytes(state: &State) -> Vec<u8> {
    state.iter().flat_map(|lane| lane.to_le_bytes()).collect()
}

/// Reads a state into DATA, permutes it `calls` times, writes it to the public output.
fn program(calls: usize) -> Program {
    let mut words = li(S2, DATA).to_vec();
    words.extend(asm::read_input(S2, 0, 200));
    for _ in 0..calls {
        words.extend(asm::keccakf(S2));
    }
    words.extend(asm::write(1, S2, 0, 200));
    words.extend(li(10, 0));
    words.extend(asm::exit());
    Program::from_words(BASE, &words).unwrap()
}

fn random_state(seed: &mut u64) -> State {
    core::array::from_fn(|_| {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    })
}

#[test]
fn random_states_are_permuted_as_the_reference_permutes_them() {
    let mut seed = 0x2545_F491_4F6C_DD1D;
    for calls in [1, 2, 5] {
        let program = program(calls);
        for _ in 0..4 {
            let state = random_state(&mut seed);
            let mut expected = state;
            for _ in 0..calls {
                keccak::permute(&mut expected);
            }
            let mut exec = Executor::new(&program, bytes(&state));
            assert_eq!(exec.run(1_000).unwrap(), 0);
            assert_eq!(exec.public_output(), bytes(&expected), "{calls} calls");
            // The count the prover's memory planner prices.
            let counted = exec.precompile_calls();
            assert_eq!((counted.keccakf, counted.field256), (calls as u64, 0));
        }
    }
}

#[test]
fn a_traced_call_records_the_reads_then_the_writes() {
    let state = random_state(&mut 7);
    let program = program(1);
    let mut exec = Executor::new(&program, bytes(&state));
    let mut segments = Vec::new();
    exec.run_traced(1_000, u64::MAX, |s| segments.push(s.clone()))
        .unwrap();
    let call = segments[0]
        .steps
        .iter()
        .position(|s| s.instruction == asm::ECALL && s.pc > BASE + 28)
        .expect("the keccakf ecall") as u64;
    let accesses: Vec<_> = segments[0]
        .memory
        .iter()
        .filter(|m| m.cycle == call)
        .collect();
    assert_eq!(accesses.len(), 100);
    let mut permuted = state;
    keccak::permute(&mut permuted);
    let (before, after) = (
        keccak::state_to_words(&state),
        keccak::state_to_words(&permuted),
    );
    for k in 0..50 {
        let (read, write) = (accesses[k], accesses[50 + k]);
        assert_eq!(
            (read.addr, read.value, read.write),
            (DATA + 4 * k as u32, before[k], false)
        );
        assert_eq!(
            (write.addr, write.value, write.write),
            (DATA + 4 * k as u32, after[k], true)
        );
    }
}

/// Runs `keccakf` on the state at `addr`; returns the error and its pc.
fn fails(addr: u32) -> ExecErrorKind {
    let mut words = li(S2, addr).to_vec();
    words.extend(asm::keccakf(S2));
    words.extend(asm::exit());
    let program = Program::from_words(BASE, &words).unwrap();
    let err = Executor::new(&program, Vec::new()).run(100).unwrap_err();
    assert_eq!(err.pc - BASE, 4 * 4, "the error names the ecall");
    err.kind
}

#[test]
fn bad_pointers_are_errors_naming_the_call() {
    assert_eq!(
        fails(DATA + 2),
        ExecErrorKind::MisalignedAccess {
            addr: DATA + 2,
            size: 4
        }
    );
    assert_eq!(
        fails(0x77FF_FFC0),
        ExecErrorKind::OutOfRange {
            addr: 0x77FF_FFC0,
            len: 200
        }
    );
    assert_eq!(fails(16), ExecErrorKind::OutOfRange { addr: 16, len: 200 });
    assert_eq!(fails(BASE), ExecErrorKind::StoreToCode { addr: BASE });
    // A state that ends just where the code begins is not code.
    let mut words = li(S2, BASE - 200).to_vec();
    words.extend(asm::keccakf(S2));
    words.extend(li(10, 0));
    words.extend(asm::exit());
    let program = Program::from_words(BASE, &words).unwrap();
    assert_eq!(Executor::new(&program, Vec::new()).run(100).unwrap(), 0);
}

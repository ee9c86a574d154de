//! The example guests (Rust, built for RV32IM by scripts/build-guests.sh) proven and verified
//! end to end, with input, public output and exit codes. `make test` builds the guests
//! before the tests; when they are missing the test fails under CI and is skipped with a
//! message otherwise.

use std::path::PathBuf;

use zkbox_executor::{Executor, Program, load_elf};
use zkbox_prover::{Proof, ProveOptions, ProvingDevice, prove, prove_on, verify};

fn guest(name: &str) -> Option<Program> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join("target/guests").join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(load_elf(&bytes).expect("a valid guest ELF")),
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: {} not built (make guests)", path.display());
            None
        }
        Err(e) => panic!("{}: {e} (make guests)", path.display()),
    }
}

fn prove_and_check(program: &Program, input: Vec<u8>) -> Proof {
    let mut executor = Executor::new(program, input.clone());
    let exit = executor.run(1 << 24).expect("the guest runs");
    let expected_output = executor.public_output().to_vec();
    let proof = prove(program, input, 1 << 24).expect("proves");
    assert_eq!(proof.exit_code(), exit);
    assert_eq!(proof.output(), expected_output.as_slice());
    let parsed = Proof::from_bytes(&proof.to_bytes()).expect("parses");
    verify(&parsed, Some(program)).expect("verifies");
    parsed
}

#[test]
fn fibonacci_proves_its_output() {
    let Some(program) = guest("fibonacci") else {
        return;
    };
    let proof = prove_and_check(&program, 30u32.to_le_bytes().to_vec());
    assert_eq!(proof.output(), 832_040u32.to_le_bytes());
    assert_eq!(proof.exit_code(), 0);

    // A proof whose claimed output is changed does not verify.
    let mut bytes = proof.to_bytes();
    let at = bytes
        .windows(4)
        .position(|w| w == 832_040u32.to_le_bytes())
        .expect("the output in the file");
    bytes[at] ^= 1;
    if let Ok(forged) = Proof::from_bytes(&bytes) {
        assert!(verify(&forged, Some(&program)).is_err());
    }
}

#[test]
#[ignore = "a debugging aid: cargo test -p zkbox-prover --test guests -- --ignored"]
fn fibonacci_witness_buses_balance() {
    let Some(program) = guest("fibonacci") else {
        return;
    };
    let mut executor = Executor::new(&program, 30u32.to_le_bytes().to_vec());
    let mut segment = None;
    executor
        .run_traced(1 << 24, 1 << 24, |s| segment = Some(s.clone()))
        .unwrap();
    let table = std::sync::Arc::new(zkbox_prover::chips::ProgramTable::new(&program));
    let witness = zkbox_prover::generate(
        &table,
        &zkbox_prover::memory_image(&program),
        &segment.unwrap(),
    )
    .unwrap();
    zkbox_prover::proof::check_witness_buses(&program, &witness);
}

#[test]
fn a_panicking_guest_proves_exit_101() {
    let Some(program) = guest("panic") else {
        return;
    };
    let proof = prove_and_check(&program, vec![]);
    assert_eq!(proof.exit_code(), 101);
}

#[test]
fn the_keccak_guest_proves() {
    let Some(program) = guest("keccak") else {
        return;
    };
    let mut input = 3u32.to_le_bytes().to_vec();
    input.extend_from_slice(b"zkbox");
    let proof = prove_and_check(&program, input);
    assert_eq!(proof.output().len(), 32);
}

#[test]
fn a_guest_proves_in_segments() {
    let Some(program) = guest("fibonacci") else {
        return;
    };
    // About 1,400 cycles in segments of 512: the first segment opens the ELF's data words,
    // the output is written in the last.
    let input = 30u32.to_le_bytes().to_vec();
    let options = ProveOptions {
        segment_cycles: 512,
        ..ProveOptions::new(1 << 24)
    };
    let proof = prove_on(ProvingDevice::Cpu, &program, input, options, |_| {}).expect("proves");
    assert!(
        proof.segment_count() >= 3,
        "{} segments",
        proof.segment_count()
    );
    assert_eq!(proof.output(), 832_040u32.to_le_bytes());
    let parsed = Proof::from_bytes(&proof.to_bytes()).expect("parses");
    verify(&parsed, Some(&program)).expect("verifies with the ELF");
    verify(&parsed, None).expect("verifies without the ELF");
}

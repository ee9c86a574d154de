//! The EVM state-transition guest proven end to end: a block executed natively, its witness
//! run by `target/guests/evm-stf` under the prover, proven as a chain of segments and
//! verified; the proven public output is the native execution's block commitment.

use std::path::PathBuf;

use zkbox_evm::workload::{TransferKind, TransferWorkload};
use zkbox_executor::{Executor, Program, load_elf};
use zkbox_prover::{Proof, ProveOptions, ProvingDevice, prove_on, verify};

fn evm_stf() -> Option<Program> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests/evm-stf");
    match std::fs::read(&path) {
        Ok(bytes) => Some(load_elf(&bytes).expect("a valid guest ELF")),
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: {} not built (make guests)", path.display());
            None
        }
        Err(e) => panic!("{}: {e} (make guests)", path.display()),
    }
}

/// Proves a block of `count` transfers of `kind` in segments of `segment_cycles`, and
/// checks the proof against native execution.
fn prove_block(kind: TransferKind, count: usize, segment_cycles: u64) {
    let Some(program) = evm_stf() else {
        return;
    };
    let mut workload = TransferWorkload::new(4);
    let transactions = workload.transfers(kind, count);
    let block = workload.block(transactions);
    let (native, witness) = workload.execute_with_witness(&block).unwrap();
    let input = witness.encode();

    let mut executor = Executor::new(&program, input.clone());
    assert_eq!(
        executor.run(1 << 30).unwrap(),
        0,
        "the guest accepts the block"
    );
    let cycles = executor.cycles();
    eprintln!(
        "evm-stf: {count} {} transfers, {cycles} cycles",
        kind.name()
    );

    let options = ProveOptions {
        segment_cycles,
        ..ProveOptions::new(1 << 30)
    };
    let started = std::time::Instant::now();
    let proof = prove_on(ProvingDevice::Cpu, &program, input, options, |_| {}).unwrap();
    eprintln!(
        "proven in {:.1} s, {} segments",
        started.elapsed().as_secs_f64(),
        proof.segment_count()
    );
    let heights: Vec<String> = proof
        .log_trace_heights()
        .into_iter()
        .map(|(name, bits)| format!("{name} 2^{bits}"))
        .collect();
    eprintln!("first segment: {}", heights.join(", "));
    assert_eq!(proof.cycles(), cycles);
    assert_eq!(proof.exit_code(), 0);
    assert_eq!(proof.output(), native.commitment().as_slice());
    let bytes = proof.to_bytes();
    let started = std::time::Instant::now();
    verify(&Proof::from_bytes(&bytes).unwrap(), Some(&program)).unwrap();
    eprintln!(
        "{} bytes, verified in {:.0} ms",
        bytes.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
}

#[test]
fn an_empty_block_is_proven_in_segments() {
    prove_block(TransferKind::Eth, 0, 1 << 17);
}

/// A real transaction: its sender recovery runs on the field256 precompile (about 1.5 M
/// cycles in all, 6.9 M before the precompile), proven in two segments.
#[test]
fn an_erc20_transfer_block_is_proven() {
    prove_block(TransferKind::Erc20, 1, 1 << 20);
}

//! `zkbox prove` and `zkbox verify`.
//!
//! `prove` executes the guest, proves the run and writes the proof file; it prints the
//! stages on standard error as they begin and, on standard output, `cycles: N`,
//! `segments: N`, `exit code: N`, `output: <hex>` and `proof: <path> (<bytes> bytes)`.
//! `verify` prints `valid`, the program commitment, the cycles, the segments, the exit code
//! and the public output, and exits 0 if and only if the proof is valid.
//!
//! Exit status of `prove`: 0 proven (whatever the guest's exit code, which is part of the
//! proof); 1 the prover failed, the device could not be opened or the run cannot be proven
//! yet; 2 an unknown `--backend` name or a `--segment-cycles` out of range; 65 a file that is not a guest; 66 an unreadable file; 101 the guest failed to
//! execute (illegal instruction, bad access, cycle limit). Exit status of `verify`: 0 valid;
//! 1 invalid; 65 not a proof file of this version; 66 unreadable.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use zkbox_executor::{Program, load_elf};
use zkbox_prover::chips::MAX_SEGMENT_CYCLES;
use zkbox_prover::{Proof, ProveError, ProveOptions, ProvingDevice, Stage, prove_on, verify};

use crate::cli::{ProveArgs, VerifyArgs};
use crate::config::ExecutorConfig;
use crate::run::{EXIT_BAD_ELF, EXIT_EXECUTION_ERROR, EXIT_UNREADABLE, hex};

/// Exit status for a malformed command line.
const EXIT_USAGE: u8 = 2;

/// Reads a file, or says why not and returns exit status 66.
fn read(command: &str, path: &Path, what: &str) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|err| {
        eprintln!(
            "zkbox {command}: cannot read {what} {}: {err}",
            path.display()
        );
        ExitCode::from(EXIT_UNREADABLE)
    })
}

/// Loads a guest ELF, or says why not and returns 65/66.
fn load(command: &str, path: &Path) -> Result<Program, ExitCode> {
    let bytes = read(command, path, "guest")?;
    load_elf(&bytes).map_err(|err| {
        eprintln!(
            "zkbox {command}: {} is not a loadable guest: {err}",
            path.display()
        );
        ExitCode::from(EXIT_BAD_ELF)
    })
}

/// Runs `zkbox prove` (`executor` gives the defaults of the cycle limit and segment size).
pub fn prove(args: &ProveArgs, executor: &ExecutorConfig) -> anyhow::Result<ExitCode> {
    let max_cycles = args.max_cycles.unwrap_or(executor.max_cycles);
    let segment_cycles = args.segment_cycles.unwrap_or(executor.segment_cycles);
    let device: ProvingDevice = match args.backend.parse() {
        Ok(device) => device,
        Err(err) => {
            eprintln!("zkbox prove: --backend {:?}: {err}", args.backend);
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    if !(1..=MAX_SEGMENT_CYCLES).contains(&segment_cycles) {
        eprintln!(
            "zkbox prove: --segment-cycles {segment_cycles} is not between 1 and {MAX_SEGMENT_CYCLES}"
        );
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let program = match load("prove", &args.elf) {
        Ok(program) => program,
        Err(code) => return Ok(code),
    };
    let input = match &args.input {
        Some(path) => match read("prove", path, "input") {
            Ok(bytes) => bytes,
            Err(code) => return Ok(code),
        },
        None => Vec::new(),
    };
    let started = Instant::now();
    let report = |stage: Stage| {
        let at = started.elapsed().as_secs_f64();
        match stage {
            Stage::Executing => eprintln!("[{at:7.2}s] executing"),
            Stage::Witness {
                index,
                segments,
                cycles,
            } => eprintln!(
                "[{at:7.2}s] segment {} of {segments}: building traces ({cycles} cycles)",
                index + 1
            ),
            Stage::Proving { index, segments } => eprintln!(
                "[{at:7.2}s] segment {} of {segments}: committing, quotient, FRI on {device}",
                index + 1
            ),
        }
    };
    let options = ProveOptions {
        max_cycles,
        segment_cycles,
        memory_limit: args.memory_mib.map(|mib| mib << 20),
        prover_loop: zkbox_prover::ProverLoop::Zkbox,
        device_compute: args.device_compute,
    };
    let proof = match prove_on(device, &program, input, options, report) {
        Ok(proof) => proof,
        Err(ProveError::Execution(err)) => {
            eprintln!("zkbox prove: execution error: {err}");
            return Ok(ExitCode::from(EXIT_EXECUTION_ERROR));
        }
        Err(err) => {
            eprintln!("zkbox prove: {err}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let bytes = proof.to_bytes();
    std::fs::write(&args.output, &bytes)
        .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", args.output.display()))?;
    eprintln!("[{:7.2}s] done", started.elapsed().as_secs_f64());
    let mut out = std::io::stdout().lock();
    writeln!(out, "cycles: {}", proof.cycles())?;
    writeln!(out, "segments: {}", proof.segment_count())?;
    writeln!(out, "exit code: {}", proof.exit_code())?;
    writeln!(out, "output: {}", hex(&proof.output()))?;
    writeln!(
        out,
        "proof: {} ({} bytes)",
        args.output.display(),
        bytes.len()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `zkbox verify`.
pub fn verify_command(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let bytes = match read("verify", &args.proof, "proof") {
        Ok(bytes) => bytes,
        Err(code) => return Ok(code),
    };
    let program = match &args.elf {
        Some(path) => match load("verify", path) {
            Ok(program) => Some(program),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let proof = match Proof::from_bytes(&bytes) {
        Ok(proof) => proof,
        Err(err) => {
            eprintln!("zkbox verify: {}: {err}", args.proof.display());
            return Ok(ExitCode::from(EXIT_BAD_ELF));
        }
    };
    let started = Instant::now();
    match verify(&proof, program.as_ref()) {
        Ok(()) => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "valid")?;
            writeln!(out, "program: {}", proof.program_commitment_hex())?;
            writeln!(out, "cycles: {}", proof.cycles())?;
            writeln!(out, "segments: {}", proof.segment_count())?;
            writeln!(out, "exit code: {}", proof.exit_code())?;
            writeln!(out, "output: {}", hex(&proof.output()))?;
            eprintln!(
                "verified in {:.1} ms",
                started.elapsed().as_secs_f64() * 1e3
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            println!("invalid");
            eprintln!("zkbox verify: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}

//! `zkbox run`: execute a guest and report cycles, public output and exit code.
//!
//! Standard output gets `cycles: N` and `output: <hex>` (the whole public output as one
//! lowercase hex string); standard error gets the guest's debug log, then any error. The
//! process exits with the guest's exit code (255 for codes above 255, which a process cannot
//! return), 101 when execution fails, 65 for a file that is not a loadable guest and 66 for a
//! file that cannot be read.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use zkbox_executor::{Executor, load_elf};

use crate::cli::RunArgs;

/// Exit status when execution fails (illegal instruction, bad access, cycle limit, ...).
pub const EXIT_EXECUTION_ERROR: u8 = 101;
/// Exit status for a file that is not a loadable guest (sysexits' EX_DATAERR).
pub const EXIT_BAD_ELF: u8 = 65;
/// Exit status for an input or ELF file that cannot be read (sysexits' EX_NOINPUT).
pub const EXIT_UNREADABLE: u8 = 66;

/// Runs `zkbox run` with the configured cycle limit.
pub fn run(args: &RunArgs, max_cycles: u64) -> anyhow::Result<ExitCode> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path).map_err(|err| {
            eprintln!("zkbox run: cannot read {what} {}: {err}", path.display());
            ExitCode::from(EXIT_UNREADABLE)
        })
    };
    let elf = match read(&args.elf, "guest") {
        Ok(bytes) => bytes,
        Err(code) => return Ok(code),
    };
    let input = match &args.input {
        Some(path) => match read(path, "input") {
            Ok(bytes) => bytes,
            Err(code) => return Ok(code),
        },
        None => Vec::new(),
    };
    let program = match load_elf(&elf) {
        Ok(program) => program,
        Err(err) => {
            eprintln!(
                "zkbox run: {} is not a loadable guest: {err}",
                args.elf.display()
            );
            return Ok(ExitCode::from(EXIT_BAD_ELF));
        }
    };
    let mut executor = Executor::new(&program, input);
    let result = executor.run(max_cycles);
    std::io::stderr().write_all(executor.debug_output())?;

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "cycles: {}", executor.cycles())?;
    writeln!(stdout, "output: {}", hex(executor.public_output()))?;
    stdout.flush()?;
    if let Some(path) = &args.output {
        std::fs::write(path, executor.public_output())
            .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", path.display()))?;
    }
    match result {
        Ok(code) => {
            if code != 0 {
                eprintln!("zkbox run: guest exited with code {code}");
            }
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)))
        }
        Err(err) => {
            eprintln!("zkbox run: execution error: {err}");
            Ok(ExitCode::from(EXIT_EXECUTION_ERROR))
        }
    }
}

/// Lowercase hex without separators.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

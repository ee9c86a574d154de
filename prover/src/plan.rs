//! Memory planning: how much memory proving one segment takes, and the segment size that
//! fits the memory there is, decided before any proving work starts.
//!
//! The model is linear in the segment's cycles plus the program's tables, with coefficients
//! measured by `zkbox bench prove` and the EVM proof test (docs/benchmarks.md): on the CPU
//! path a segment peaks at about 2.5 KiB per cycle (2.5 GiB at 2^20 cycles, 10.3 GiB at
//! 2^22), the device path holds about 3.6 KiB per cycle on the host (14.8 GiB at 2^22 with
//! CUDA), and a program's tables (program table, memory image, final table) about 1.6 KiB
//! per row of the program table (the evm-stf guest's 2^20-row tables added 1.6 GiB). The
//! planner adds a quarter on top of the measured figures, so a plan is an upper bound with
//! a margin, not a promise to the byte.
//!
//! Precompile calls are priced on top, because one cycle of them is far more trace than one
//! ordinary instruction: a `keccakf` call is 24 rows of the 2,633-column keccak-f chip and a
//! row of the keccak-call chip, a `field256` call a row of a 565-column chip. Their rows are
//! priced as a number of ordinary cycles from their committed columns (main plus LogUp)
//! against the ~210 an ordinary cycle commits — derived, not measured. Cuts fall on cycle
//! counts, so the planner assumes every call of the run may land in one segment (up to one
//! per cycle): a conservative plan for a run whose calls are spread out.

use zkbox_executor::PrecompileCalls;

use crate::error::ProveError;

/// Where the proving work's memory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Plonky3's CPU DFT and Merkle trees: everything in host memory.
    Cpu,
    /// An accel device: traces on the host, LDEs and Merkle trees on the device.
    Device,
}

/// Bytes of host memory per segment cycle on the CPU path (measured 2.5 KiB, plus a quarter).
const CPU_BYTES_PER_CYCLE: u64 = 3200;
/// Bytes of host memory per segment cycle on the device path (measured 3.6 KiB, plus a quarter).
const DEVICE_HOST_BYTES_PER_CYCLE: u64 = 4600;
/// Bytes of device memory per segment cycle: the LDEs (blowup 2) and Merkle trees of the
/// committed matrices, which stay on the device through the opening (2.1 KB per cycle seen
/// on an H200 before the opening ran there), and the opening's own vectors of extension
/// elements over the tallest LDE (two rows per cycle, 16 bytes each): the combined rows,
/// the running sum, the points' `1/(z − x)` tables (one per trace height, less than three
/// LDE lengths together) and FRI's first folded vector, about 0.3 KB per cycle; with the
/// same margin.
const DEVICE_BYTES_PER_CYCLE: u64 = 3000;
/// Bytes per row of the program's tables (measured 1.6 KiB, plus a quarter).
const BYTES_PER_PROGRAM_ROW: u64 = 2048;
/// What a proof needs whatever its size: the byte table, buffers, the process itself.
const BASE_BYTES: u64 = 512 << 20;
/// The smallest segment the planner picks.
pub const MIN_PLANNED_SEGMENT_CYCLES: u64 = 1 << 14;
/// Rows of the keccak-f chip per `keccakf` call (one per round).
pub const KECCAK_F_ROWS_PER_CALL: u64 = 24;
/// The tallest keccak-f trace a segment may have: BabyBear's two-adic subgroups end at 2^27
/// and the LDE (blowup 2) and the quotient domain each double the height, so 2^25 rows keeps
/// a factor of two in hand. The other chips stay far below it (a row per cycle at most,
/// segments of at most 2^24 cycles).
pub const MAX_KECCAK_F_ROWS: u64 = 1 << 25;
/// A keccak-f row priced in ordinary cycles: 2,633 main + 8 LogUp columns.
const KECCAK_F_ROW_CYCLES: u64 = 13;
/// A keccak-call row priced in ordinary cycles: 687 main columns and its LogUp columns
/// (about 300 interactions, two per extension column).
const KECCAK_CALL_ROW_CYCLES: u64 = 7;
/// A field256 row priced in ordinary cycles: 565 main columns and its LogUp columns.
const FIELD256_ROW_CYCLES: u64 = 5;

/// Ordinary cycles a segment of `cycles` cycles with `calls` precompile calls costs as
/// much memory as (each chip's rows rounded up to a power of two, as the traces are).
pub fn equivalent_cycles(cycles: u64, calls: PrecompileCalls) -> u64 {
    let padded = |rows: u64| {
        if rows == 0 {
            0
        } else {
            rows.next_power_of_two()
        }
    };
    padded(cycles)
        + KECCAK_F_ROW_CYCLES * padded(KECCAK_F_ROWS_PER_CALL * calls.keccakf)
        + KECCAK_CALL_ROW_CYCLES * padded(calls.keccakf)
        + FIELD256_ROW_CYCLES * padded(calls.field256)
}

/// Estimated memory for proving one segment of `cycles` cycles with `calls` precompile
/// calls, of a program whose program table has `program_rows` rows: `(host bytes, device
/// bytes)`, device bytes 0 on the CPU.
pub fn segment_footprint(
    path: Path,
    cycles: u64,
    calls: PrecompileCalls,
    program_rows: u64,
) -> (u64, u64) {
    let rows = equivalent_cycles(cycles, calls);
    let tables = BASE_BYTES + BYTES_PER_PROGRAM_ROW * program_rows;
    match path {
        Path::Cpu => (tables + CPU_BYTES_PER_CYCLE * rows, 0),
        Path::Device => (
            tables + DEVICE_HOST_BYTES_PER_CYCLE * rows,
            DEVICE_BYTES_PER_CYCLE * rows,
        ),
    }
}

/// The memory a plan may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Host bytes available.
    pub host: u64,
    /// Device bytes available (ignored on the CPU path).
    pub device: u64,
}

/// The precompile calls a segment of `cycles` cycles of a run with `run_calls` may hold at
/// most: all of them, but no more than one per cycle.
fn calls_in_segment(cycles: u64, run_calls: PrecompileCalls) -> PrecompileCalls {
    PrecompileCalls {
        field256: run_calls.field256.min(cycles),
        keccakf: run_calls.keccakf.min(cycles),
    }
}

/// The segment size to prove a run of `run_cycles` cycles and `run_calls` precompile calls
/// with: `requested` if one segment of it fits the budget (and the keccak-f height limit),
/// else the largest power of two below it that fits (at least
/// [`MIN_PLANNED_SEGMENT_CYCLES`]); a [`ProveError::InsufficientMemory`] when not even that
/// fits. A run shorter than a segment is planned at its own length.
pub fn plan_segment_cycles(
    path: Path,
    requested: u64,
    run_cycles: u64,
    run_calls: PrecompileCalls,
    program_rows: u64,
    budget: MemoryBudget,
) -> Result<u64, ProveError> {
    let fits = |cycles: u64| {
        let cycles = cycles.min(run_cycles.max(1));
        let calls = calls_in_segment(cycles, run_calls);
        let (host, device) = segment_footprint(path, cycles, calls, program_rows);
        host <= budget.host
            && (path == Path::Cpu || device <= budget.device)
            && KECCAK_F_ROWS_PER_CALL * calls.keccakf <= MAX_KECCAK_F_ROWS
    };
    if fits(requested) {
        return Ok(requested);
    }
    let mut cycles = requested.next_power_of_two() / 2;
    while cycles >= MIN_PLANNED_SEGMENT_CYCLES {
        if fits(cycles) {
            return Ok(cycles);
        }
        cycles /= 2;
    }
    let smallest = MIN_PLANNED_SEGMENT_CYCLES.min(requested);
    let (host, device) = segment_footprint(
        path,
        smallest,
        calls_in_segment(smallest, run_calls),
        program_rows,
    );
    Err(ProveError::InsufficientMemory {
        needed_host: host,
        available_host: budget.host,
        needed_device: if path == Path::Cpu { 0 } else { device },
        available_device: budget.device,
    })
}

/// Host memory available for new work: `MemAvailable` from /proc/meminfo, or `None` where it
/// cannot be read.
pub fn available_host_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const NONE: PrecompileCalls = PrecompileCalls {
        field256: 0,
        keccakf: 0,
    };

    #[test]
    fn the_model_covers_the_measured_peaks() {
        // 10.3 GiB measured for 2^22 cycles of a small program on the CPU path.
        let (host, _) = segment_footprint(Path::Cpu, 1 << 22, NONE, 1 << 10);
        assert!(host > 103 * GIB / 10 && host < 14 * GIB, "{host}");
        // 11.9 GiB for the evm-stf guest's 2^22-cycle segments (2^20-row tables).
        let (host, _) = segment_footprint(Path::Cpu, 1 << 22, NONE, 1 << 20);
        assert!(host > 119 * GIB / 10, "{host}");
    }

    #[test]
    fn plans_shrink_segments_to_fit_and_refuse_what_cannot() {
        let roomy = MemoryBudget {
            host: 64 * GIB,
            device: 80 * GIB,
        };
        assert_eq!(
            plan_segment_cycles(Path::Cpu, 1 << 22, 1 << 30, NONE, 1 << 12, roomy).unwrap(),
            1 << 22
        );
        let tight = MemoryBudget {
            host: 4 * GIB,
            device: 80 * GIB,
        };
        let planned =
            plan_segment_cycles(Path::Cpu, 1 << 22, 1 << 30, NONE, 1 << 12, tight).unwrap();
        assert!((MIN_PLANNED_SEGMENT_CYCLES..1 << 22).contains(&planned));
        assert!(segment_footprint(Path::Cpu, planned, NONE, 1 << 12).0 <= tight.host);
        // A short run is planned at its own length.
        assert_eq!(
            plan_segment_cycles(Path::Cpu, 1 << 22, 1000, NONE, 1 << 12, tight).unwrap(),
            1 << 22
        );
        // The device's memory bounds the device path.
        let small_device = MemoryBudget {
            host: 64 * GIB,
            device: GIB,
        };
        let planned =
            plan_segment_cycles(Path::Device, 1 << 22, 1 << 30, NONE, 1 << 12, small_device)
                .unwrap();
        assert!(segment_footprint(Path::Device, planned, NONE, 1 << 12).1 <= GIB);
        // Too little for the smallest segment: a clear error.
        let tiny = MemoryBudget {
            host: 256 << 20,
            device: 0,
        };
        assert!(matches!(
            plan_segment_cycles(Path::Cpu, 1 << 22, 1 << 30, NONE, 1 << 12, tiny),
            Err(ProveError::InsufficientMemory { .. })
        ));
    }

    #[test]
    fn precompile_calls_shrink_segments() {
        let budget = MemoryBudget {
            host: 20 * GIB,
            device: 0,
        };
        // 10,000 keccakf calls (about 1.3 MB hashed) may all land in one segment: 2^18
        // keccak-f rows priced as 3.4 M cycles on top, so 2^22-cycle segments no longer fit.
        let hashing = PrecompileCalls {
            field256: 0,
            keccakf: 10_000,
        };
        let plain = plan_segment_cycles(Path::Cpu, 1 << 22, 1 << 30, NONE, 1 << 12, budget);
        assert_eq!(plain.unwrap(), 1 << 22);
        let planned =
            plan_segment_cycles(Path::Cpu, 1 << 22, 1 << 30, hashing, 1 << 12, budget).unwrap();
        assert!(planned < 1 << 22, "{planned}");
        let calls = calls_in_segment(planned, hashing);
        assert!(segment_footprint(Path::Cpu, planned, calls, 1 << 12).0 <= budget.host);
        // A field256 call costs a few cycles, not a keccak permutation's worth.
        assert!(
            equivalent_cycles(
                1 << 20,
                PrecompileCalls {
                    field256: 1 << 10,
                    keccakf: 0
                }
            ) < equivalent_cycles(
                1 << 20,
                PrecompileCalls {
                    field256: 0,
                    keccakf: 1 << 10
                }
            )
        );
    }

    #[test]
    fn the_keccak_f_height_limit_caps_segments_of_keccak_heavy_runs() {
        let huge = MemoryBudget {
            host: u64::MAX,
            device: u64::MAX,
        };
        let hashing = PrecompileCalls {
            field256: 0,
            keccakf: 1 << 24,
        };
        let planned =
            plan_segment_cycles(Path::Cpu, 1 << 24, 1 << 30, hashing, 1 << 12, huge).unwrap();
        assert!(KECCAK_F_ROWS_PER_CALL * planned.min(1 << 24) <= MAX_KECCAK_F_ROWS);
        assert!(planned >= 1 << 20, "{planned}");
    }
}

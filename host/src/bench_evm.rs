//! `zkbox bench evm`: EVM transfers natively and in the zkVM guest.
//!
//! Workload: `zkbox_evm::workload` — a state of [`ACCOUNTS`] funded accounts holding an
//! ERC-20 token, and seeded, signed ETH or ERC-20 transfers between them. Three measurements:
//!
//! - **native execution** (one core): a batch of [`NATIVE_BATCH`] transfers, senders already
//!   recovered, run through revm (`execute_transactions`) over the in-memory state, which the
//!   warm-up run has brought into the caches (state root and sealing not included). The
//!   state is never changed, so every repeat runs the same batch from the same pre-state.
//! - **sender recovery**: the same batch's senders recovered (secp256k1) on one thread and on
//!   every core (`std::thread::scope`, the batch split evenly); then both together,
//!   recovery on every core followed by execution on one, as a block is processed.
//! - **sealing** (one core): the post-state root of a [`NATIVE_BATCH`]-transfer ERC-20 block
//!   over states grown by [`SEAL_IDLE_ACCOUNTS`] idle token holders, computed by hashing the
//!   whole state (`UnappliedBlock::seal`) and by updating tries kept from the previous block
//!   (`UnappliedBlock::seal_with`, as the sequencer does); both must give the same root.
//!   Execution, and copying the kept tries before each run, are not timed.
//! - **guest cycles**: blocks of 1, 10 and 50 transfers executed natively with their
//!   witnesses, then run in the zkVM emulator by `target/guests/evm-stf` (skipped with a
//!   message if the guests are not built); the output must equal the native commitment. The
//!   guest marks each verification phase (`zkbox_evm::Phase`) with a cycle marker, and the
//!   emulator's markers split its cycles by phase. Cycles are deterministic, so one run each;
//!   the difference between the 50- and 10-transfer blocks gives the marginal cost of a
//!   transfer, apart from the per-block fixed cost.
//!
//! Native figures are the median and p95 (slow end) over [`REPEATS`] timed runs after one
//! warm-up run. A table goes to stdout; `--json FILE` writes the whole report.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use serde::Serialize;
use zkbox_evm::workload::{TransferKind, TransferWorkload};
use zkbox_evm::{
    Block, BlockHashes, NativeReader, Overlay, Phase, RecoveredTx, StateTrie, TxEnvelope,
    execute_block_unapplied, execute_transactions,
};
use zkbox_executor::markers::BEFORE_FIRST_MARKER;
use zkbox_executor::{Executor, Program, attribute_cycles, load_elf};

use crate::bench_exec::{Machine, guests_dir, machine};
use crate::cli::BenchArgs;

/// Funded accounts in the benchmark state.
pub const ACCOUNTS: usize = 1_000;
/// Transfers per native batch.
pub const NATIVE_BATCH: usize = 2_000;
/// Timed runs per native figure (after one warm-up run).
pub const REPEATS: usize = 7;
/// Idle accounts added to the state for the sealing measurement, one state per entry.
pub const SEAL_IDLE_ACCOUNTS: [usize; 2] = [100_000, 1_000_000];
/// Transfers per guest block.
pub const GUEST_BLOCK_SIZES: [usize; 3] = [1, 10, 50];
/// Cycle limit for one guest block (about 7 M cycles per transfer as of 2026-11-26).
const MAX_GUEST_CYCLES: u64 = 5_000_000_000;
/// The tag of the guest's last phase (committing the output), beside [`Phase::name`]s.
const COMMIT_TAG: &str = "commit";

/// The whole report, as written with `--json`.
#[derive(Debug, Serialize)]
pub struct EvmReport {
    /// What ran where and when.
    pub machine: Machine,
    /// Accounts in the benchmark state.
    pub accounts: usize,
    /// Timed runs behind each native median and p95.
    pub repeats: usize,
    /// Native figures, one entry per transfer kind.
    pub native: Vec<NativeResult>,
    /// Sealing figures, one entry per state size.
    pub sealing: Vec<SealResult>,
    /// Guest cycles, one entry per block; empty when the guest is not built.
    pub guest: Vec<GuestBlock>,
    /// Marginal guest cost per transfer, one entry per kind (from the two largest blocks).
    pub guest_marginal: Vec<GuestMarginal>,
    /// Why the guest part did not run, when it did not.
    pub guest_skipped: Option<String>,
}

/// A median and a 95th percentile (the slow end) of a rate.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rate {
    /// Median.
    pub median: f64,
    /// 95th percentile at the slow end: 95% of the runs were at least this fast.
    pub p95: f64,
}

/// Native throughput for one transfer kind.
#[derive(Debug, Serialize)]
pub struct NativeResult {
    /// `eth` or `erc20`.
    pub kind: String,
    /// Transfers per timed run.
    pub batch: usize,
    /// Transfers executed per second on one core, senders already recovered.
    pub execute_tx_per_s: Rate,
    /// Senders recovered per second on one thread, one signature at a time (libsecp256k1).
    pub recover_one_at_a_time_per_s: Rate,
    /// Senders recovered per second on one thread, the batch together
    /// (`RecoveredTx::recover_all`: eight at a time with AVX-512 IFMA where available).
    pub recover_1_thread_per_s: Rate,
    /// Threads used for parallel recovery (the machine's available parallelism).
    pub threads: usize,
    /// Senders recovered per second on `threads` threads, each recovering its share together.
    pub recover_n_threads_per_s: Rate,
    /// Transfers per second with recovery on `threads` threads, then execution on one.
    pub recover_and_execute_tx_per_s: Rate,
}

/// Sealing one block over one state size.
#[derive(Debug, Serialize)]
pub struct SealResult {
    /// Accounts in the state (the workload's, the token and the idle ones).
    pub accounts: usize,
    /// ERC-20 transfers in the block.
    pub transfers: usize,
    /// Blocks sealed per second when the root hashes the whole state.
    pub full_root_blocks_per_s: Rate,
    /// Blocks sealed per second when the root updates the kept tries.
    pub kept_tries_blocks_per_s: Rate,
}

/// Guest cycles for one block.
#[derive(Debug, Serialize)]
pub struct GuestBlock {
    /// `eth` or `erc20`.
    pub kind: String,
    /// Transfers in the block.
    pub transactions: usize,
    /// Encoded witness size in bytes.
    pub witness_bytes: usize,
    /// All cycles of the run.
    pub cycles: u64,
    /// Cycles per phase, in the order the guest first enters them.
    pub phases: Vec<PhaseCycles>,
}

/// Cycles of one phase in one block.
#[derive(Debug, Serialize)]
pub struct PhaseCycles {
    /// The phase's marker tag (`zkbox_evm::Phase::name`, `commit`, or `(start)` for reading
    /// the input).
    pub phase: String,
    /// Cycles in the block.
    pub cycles: u64,
    /// How many times the guest entered the phase.
    pub entries: u64,
}

/// The cost of one more transfer in a block, from the difference of two block sizes.
#[derive(Debug, Serialize)]
pub struct GuestMarginal {
    /// `eth` or `erc20`.
    pub kind: String,
    /// The smaller and the larger block size compared.
    pub between: (usize, usize),
    /// Cycles per additional transfer.
    pub cycles_per_tx: f64,
    /// The per-block cycles a block has besides its transfers (the intercept).
    pub fixed_cycles: f64,
    /// Cycles per additional transfer, by phase.
    pub phases: Vec<(String, f64)>,
}

/// Runs `zkbox bench evm`.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(other) = args.backend.iter().find(|b| b.as_str() != "cpu") {
        bail!("bench evm runs on the CPU only; backend {other:?} does not apply");
    }
    if args.log_n.is_some() || args.cols.is_some() || args.plot.is_some() {
        eprintln!("bench evm: --log-n, --cols and --plot do not apply to evm; ignored");
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut native = Vec::new();
    for kind in [TransferKind::Eth, TransferKind::Erc20] {
        eprintln!("bench evm: native {} ...", kind.name());
        native.push(measure_native(kind, threads)?);
    }
    let mut sealing = Vec::new();
    for idle in SEAL_IDLE_ACCOUNTS {
        eprintln!("bench evm: sealing over {idle} idle accounts ...");
        sealing.push(measure_sealing(idle)?);
    }
    let (guest, guest_marginal, guest_skipped) = match load_guest(&guests_dir())? {
        Ok(program) => {
            let mut blocks = Vec::new();
            for kind in [TransferKind::Eth, TransferKind::Erc20] {
                for size in GUEST_BLOCK_SIZES {
                    eprintln!("bench evm: guest, {size} {} transfers ...", kind.name());
                    blocks.push(measure_guest(&program, kind, size)?);
                }
            }
            let marginal = marginal_costs(&blocks);
            (blocks, marginal, None)
        }
        Err(why) => {
            eprintln!("bench evm: {why}; skipping the guest cycles");
            (Vec::new(), Vec::new(), Some(why))
        }
    };
    let report = EvmReport {
        machine: machine(),
        accounts: ACCOUNTS,
        repeats: REPEATS,
        native,
        sealing,
        guest,
        guest_marginal,
        guest_skipped,
    };
    print!("{}", render_table(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The native measurements for one kind (see the module docs).
fn measure_native(kind: TransferKind, threads: usize) -> anyhow::Result<NativeResult> {
    let mut workload = TransferWorkload::new(ACCOUNTS);
    let transactions = workload.transfers(kind, NATIVE_BATCH);
    let block = workload.block(transactions);
    let recovered = recover(&block, 1)?;
    let state = workload.state();
    let hashes = BlockHashes::new();

    let execute = |recovered: &[RecoveredTx]| -> anyhow::Result<()> {
        let mut overlay = Overlay::new(NativeReader::new(state, &hashes));
        let receipts = execute_transactions(&mut overlay, &block.env, recovered)
            .map_err(|e| anyhow::anyhow!("native {} batch: {e}", kind.name()))?;
        ensure!(
            receipts.iter().all(|r| r.status()),
            "a {} transfer of the benchmark failed",
            kind.name()
        );
        Ok(())
    };
    let n = NATIVE_BATCH as f64;
    let execute_tx_per_s = rate(n, || execute(&recovered))?;
    let recover_one_at_a_time_per_s = rate(n, || {
        for (index, tx) in block.transactions.iter().enumerate() {
            RecoveredTx::recover(tx, block.env.chain_id, index)?;
        }
        Ok(())
    })?;
    let recover_1_thread_per_s = rate(n, || recover(&block, 1).map(drop))?;
    let recover_n_threads_per_s = rate(n, || recover(&block, threads).map(drop))?;
    let recover_and_execute_tx_per_s = rate(n, || execute(&recover(&block, threads)?))?;
    Ok(NativeResult {
        kind: kind.name().to_owned(),
        batch: NATIVE_BATCH,
        execute_tx_per_s,
        recover_one_at_a_time_per_s,
        recover_1_thread_per_s,
        threads,
        recover_n_threads_per_s,
        recover_and_execute_tx_per_s,
    })
}

/// Sealing a block over a state with `idle` more accounts (see the module docs).
fn measure_sealing(idle: usize) -> anyhow::Result<SealResult> {
    let mut workload = TransferWorkload::new(ACCOUNTS).with_idle_accounts(idle);
    let transactions = workload.transfers(TransferKind::Erc20, NATIVE_BATCH);
    let block = workload.block(transactions);
    let state = workload.state();
    let hashes = BlockHashes::new();
    let pre = state.state_root();
    let tries = StateTrie::from_state(state);
    let execute = || {
        execute_block_unapplied(state, &block, &hashes)
            .map_err(|e| anyhow::anyhow!("sealing benchmark block: {e}"))
    };
    let (full, _) = execute()?.seal(state, &block, pre);
    let (kept, _) = execute()?.seal_with(state, &mut tries.clone(), &block, pre);
    ensure!(
        full.post_state_root == kept.post_state_root,
        "the kept tries and the whole state give different roots"
    );
    // Each run's kept tries are a copy; freeing it is not part of sealing.
    let full_root_blocks_per_s = rate_of(1.0, execute, |unapplied| {
        Ok(unapplied.seal(state, &block, pre))
    })?;
    let kept_tries_blocks_per_s = rate_of(
        1.0,
        || Ok((execute()?, tries.clone())),
        |(unapplied, mut tries)| Ok((unapplied.seal_with(state, &mut tries, &block, pre), tries)),
    )?;
    Ok(SealResult {
        accounts: state.accounts().count(),
        transfers: NATIVE_BATCH,
        full_root_blocks_per_s,
        kept_tries_blocks_per_s,
    })
}

/// Recovers the block's senders on `threads` threads, each taking a contiguous share and
/// recovering it together.
fn recover(block: &Block, threads: usize) -> anyhow::Result<Vec<RecoveredTx>> {
    let chain_id = block.env.chain_id;
    let recover_range =
        |offset: usize, txs: &[TxEnvelope]| RecoveredTx::recover_all(txs, chain_id, offset);
    let chunk = block.transactions.len().div_ceil(threads.max(1)).max(1);
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = block
            .transactions
            .chunks(chunk)
            .enumerate()
            .map(|(i, txs)| scope.spawn(move || recover_range(i * chunk, txs)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a recovery thread panicked"))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let mut out = Vec::with_capacity(block.transactions.len());
    for part in parts {
        out.extend(part.map_err(|e| anyhow::anyhow!("sender recovery: {e}"))?);
    }
    Ok(out)
}

/// `items` per second of `run`: one warm-up run, then [`REPEATS`] timed runs.
fn rate(items: f64, mut run: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Rate> {
    rate_of(items, || Ok(()), |()| run())
}

/// `items` per second of `run` on what an untimed `setup` gives it, fresh for each run: one
/// warm-up run, then [`REPEATS`] timed runs. What `run` returns is dropped untimed.
fn rate_of<T, U>(
    items: f64,
    mut setup: impl FnMut() -> anyhow::Result<T>,
    mut run: impl FnMut(T) -> anyhow::Result<U>,
) -> anyhow::Result<Rate> {
    run(setup()?)?;
    let mut rates = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        let input = setup()?;
        let start = Instant::now();
        let output = run(input)?;
        rates.push(items / start.elapsed().as_secs_f64());
        drop(output);
    }
    rates.sort_by(f64::total_cmp);
    Ok(Rate {
        median: quantile(&rates, 0.5),
        p95: quantile(&rates, 0.05),
    })
}

/// The `q` quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

/// One guest block of `size` transfers of `kind` (see the module docs).
fn measure_guest(program: &Program, kind: TransferKind, size: usize) -> anyhow::Result<GuestBlock> {
    let mut workload = TransferWorkload::new(ACCOUNTS);
    let transactions = workload.transfers(kind, size);
    let block = workload.block(transactions);
    let (native, witness) = workload
        .execute_with_witness(&block)
        .map_err(|e| anyhow::anyhow!("building the witness: {e}"))?;
    let input = witness.encode();
    let witness_bytes = input.len();
    let mut exec = Executor::new(program, input);
    let exit = exec
        .run(MAX_GUEST_CYCLES)
        .map_err(|e| anyhow::anyhow!("evm-stf on {size} {} transfers: {e}", kind.name()))?;
    ensure!(
        exit == 0 && exec.public_output() == native.commitment().as_slice(),
        "evm-stf on {size} {} transfers: exit {exit}, output differs from native execution; log:\n{}",
        kind.name(),
        String::from_utf8_lossy(exec.debug_output())
    );
    let cycles = exec.cycles();
    let phases = attribute_cycles(exec.cycle_markers(), cycles)
        .into_iter()
        .map(|t| PhaseCycles {
            phase: t.tag,
            cycles: t.cycles,
            entries: t.entries,
        })
        .collect::<Vec<_>>();
    for phase in &phases {
        let known = phase.phase == BEFORE_FIRST_MARKER
            || phase.phase == COMMIT_TAG
            || Phase::from_name(&phase.phase).is_some();
        ensure!(known, "evm-stf wrote an unknown marker {:?}", phase.phase);
    }
    Ok(GuestBlock {
        kind: kind.name().to_owned(),
        transactions: size,
        witness_bytes,
        cycles,
        phases,
    })
}

/// Per kind, the cost of one more transfer between its two largest blocks.
fn marginal_costs(blocks: &[GuestBlock]) -> Vec<GuestMarginal> {
    let mut out = Vec::new();
    for kind in [TransferKind::Eth, TransferKind::Erc20] {
        let mut of_kind: Vec<&GuestBlock> =
            blocks.iter().filter(|b| b.kind == kind.name()).collect();
        of_kind.sort_by_key(|b| b.transactions);
        let [.., small, large] = of_kind.as_slice() else {
            continue;
        };
        let dn = (large.transactions - small.transactions) as f64;
        if dn == 0.0 {
            continue;
        }
        let per_tx = (large.cycles as f64 - small.cycles as f64) / dn;
        let phase_cycles = |block: &GuestBlock, name: &str| {
            block
                .phases
                .iter()
                .find(|p| p.phase == name)
                .map_or(0.0, |p| p.cycles as f64)
        };
        let phases = large
            .phases
            .iter()
            .map(|p| {
                let delta = phase_cycles(large, &p.phase) - phase_cycles(small, &p.phase);
                (p.phase.clone(), delta / dn)
            })
            .collect();
        out.push(GuestMarginal {
            kind: kind.name().to_owned(),
            between: (small.transactions, large.transactions),
            cycles_per_tx: per_tx,
            fixed_cycles: small.cycles as f64 - per_tx * small.transactions as f64,
            phases,
        });
    }
    out
}

/// The evm-stf guest from `dir`, or why it cannot be run.
pub(crate) fn load_guest(dir: &Path) -> anyhow::Result<Result<Program, String>> {
    let path = dir.join("evm-stf");
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(Err(format!("{} not built (make guests)", path.display())));
    };
    let program =
        load_elf(&bytes).with_context(|| format!("{} is not a loadable guest", path.display()))?;
    Ok(Ok(program))
}

/// The phases shown as table columns, in order; anything else goes under "other".
const PHASE_COLUMNS: [(&str, &str); 7] = [
    ("decode", "DECODE"),
    ("witness-hashing", "WIT HASH"),
    ("recovery", "RECOVER"),
    ("execution", "EXECUTE"),
    ("state-reads", "ST READS"),
    ("state-root", "ST ROOT"),
    ("seal", "SEAL"),
];

fn render_table(report: &EvmReport) -> String {
    let mut out = format!(
        "native, {} accounts, batches of {} transfers; median (p95) per second\n",
        report.accounts,
        report.native.first().map_or(0, |n| n.batch)
    );
    out += &format!(
        "{:<6} {:>22} {:>22} {:>22} {:>22} {:>24}\n",
        "KIND",
        "EXECUTE 1 core tx/s",
        "RECOVER singly /s",
        "RECOVER 1 thread /s",
        "RECOVER N threads /s",
        "RECOVER+EXECUTE tx/s"
    );
    let cell = |r: &Rate| format!("{:.0} ({:.0})", r.median, r.p95);
    for n in &report.native {
        out += &format!(
            "{:<6} {:>22} {:>22} {:>22} {:>22} {:>24}\n",
            n.kind,
            cell(&n.execute_tx_per_s),
            cell(&n.recover_one_at_a_time_per_s),
            cell(&n.recover_1_thread_per_s),
            format!("{} [{}]", cell(&n.recover_n_threads_per_s), n.threads),
            cell(&n.recover_and_execute_tx_per_s),
        );
    }
    out += "sealing one core: post-state root of one block, median (p95) ms\n";
    out += &format!(
        "{:>10} {:>10} {:>22} {:>22}\n",
        "ACCOUNTS", "TRANSFERS", "WHOLE STATE ms", "KEPT TRIES ms"
    );
    let ms = |r: &Rate| format!("{:.1} ({:.1})", 1e3 / r.median, 1e3 / r.p95);
    for seal in &report.sealing {
        out += &format!(
            "{:>10} {:>10} {:>22} {:>22}\n",
            seal.accounts,
            seal.transfers,
            ms(&seal.full_root_blocks_per_s),
            ms(&seal.kept_tries_blocks_per_s),
        );
    }
    if let Some(why) = &report.guest_skipped {
        out += &format!("guest: skipped ({why})\n");
    } else {
        out += "guest (evm-stf in the emulator): cycles per transfer, by phase\n";
        out += &format!(
            "{:<6} {:>4} {:>9} {:>11}",
            "KIND", "TXS", "WITNESS", "TOTAL/TX"
        );
        for (_, title) in PHASE_COLUMNS {
            out += &format!(" {title:>10}");
        }
        out += &format!(" {:>8}\n", "OTHER");
        for block in &report.guest {
            let n = block.transactions.max(1) as f64;
            out += &format!(
                "{:<6} {:>4} {:>9} {:>11.0}",
                block.kind,
                block.transactions,
                block.witness_bytes,
                block.cycles as f64 / n
            );
            let phase = |name: &str| {
                block
                    .phases
                    .iter()
                    .filter(|p| p.phase == name)
                    .map(|p| p.cycles)
                    .sum::<u64>()
            };
            for (name, _) in PHASE_COLUMNS {
                out += &format!(" {:>10.0}", phase(name) as f64 / n);
            }
            let listed: u64 = PHASE_COLUMNS.iter().map(|(name, _)| phase(name)).sum();
            out += &format!(" {:>8.0}\n", (block.cycles - listed) as f64 / n);
        }
        for m in &report.guest_marginal {
            out += &format!(
                "{:<6} marginal ({}→{} txs): {:.0} cycles/tx + {:.0} fixed per block;",
                m.kind, m.between.0, m.between.1, m.cycles_per_tx, m.fixed_cycles
            );
            for (phase, cycles) in &m.phases {
                if cycles.abs() >= 0.5 {
                    out += &format!(" {phase} {cycles:.0}");
                }
            }
            out += "\n";
        }
    }
    out += &format!("{}\n", report.machine.footer());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(kind: &str, transactions: usize, phases: &[(&str, u64)]) -> GuestBlock {
        GuestBlock {
            kind: kind.to_owned(),
            transactions,
            witness_bytes: 0,
            cycles: phases.iter().map(|p| p.1).sum(),
            phases: phases
                .iter()
                .map(|&(phase, cycles)| PhaseCycles {
                    phase: phase.to_owned(),
                    cycles,
                    entries: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn marginal_cost_is_the_slope_between_the_two_largest_blocks() {
        let blocks = [
            block("erc20", 1, &[("recovery", 100), ("seal", 1_000)]),
            block("erc20", 10, &[("recovery", 1_000), ("seal", 1_090)]),
            block("erc20", 50, &[("recovery", 5_000), ("seal", 1_490)]),
        ];
        let marginal = marginal_costs(&blocks);
        assert_eq!(marginal.len(), 1, "no eth blocks, no eth entry");
        let m = &marginal[0];
        assert_eq!(m.between, (10, 50));
        assert_eq!(m.cycles_per_tx, 110.0);
        assert_eq!(m.fixed_cycles, 2_090.0 - 1_100.0);
        assert_eq!(
            m.phases,
            [("recovery".to_owned(), 100.0), ("seal".to_owned(), 10.0)]
        );
    }

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        assert_eq!(quantile(&sorted, 0.5), 4.0);
        assert_eq!(quantile(&sorted, 0.05), 1.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn parallel_recovery_finds_the_same_senders_in_order() {
        let mut workload = TransferWorkload::new(5);
        let transactions = workload.transfers(TransferKind::Erc20, 7);
        let block = workload.block(transactions);
        let one = recover(&block, 1).unwrap();
        let three = recover(&block, 3).unwrap();
        assert_eq!(one, three);
        let senders: Vec<_> = one.iter().map(|r| r.sender).collect();
        let expected: Vec<_> = (0..7).map(|i| workload.addresses()[i % 5]).collect();
        assert_eq!(senders, expected);
    }
}

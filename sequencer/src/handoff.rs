//! The hand-off of sealed blocks to the prover: batches, the batches awaiting proofs, and the
//! hand-off log that carries both across restarts.
//!
//! Each sealed block's witness joins the open batch; a batch closes after `max_blocks`
//! blocks, or once its first block is `max_age` old, and is offered to the
//! [`crate::BatchSink`]. The prover's side reports each batch it has proven.
//!
//! # Durability
//!
//! The hand-off log (`handoff.log`, a [`RecordLog`]) holds [`Checkpoint`]s: the last block
//! of the longest proven prefix of the chain, and the next batch number. One is appended and
//! fsync'd before every offer (so a batch number is never offered twice, even across a
//! crash) and after every proof that extends the proven prefix. At start the last one is
//! read, and every block after its prefix is executed again with its witness and offered
//! anew, under new numbers: a crash or restart loses no block's proof, and a block proven
//! out of order (after a gap still unproven) is proven again rather than trusted.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use zkbox_evm::Witness;

use crate::record_log::RecordLog;
use crate::sequencer::Batch;

/// Header of the hand-off log.
pub const HANDOFF_MAGIC: &[u8; 8] = b"ZKBXHND1";

/// What the hand-off log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Every block up to this one is in a proven batch (0: none yet).
    pub proven_through: u64,
    /// The number the next batch offered gets.
    pub next_batch: u64,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint {
            proven_through: 0,
            next_batch: 1,
        }
    }
}

impl Checkpoint {
    fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.proven_through.to_le_bytes());
        out[8..].copy_from_slice(&self.next_batch.to_le_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; 16] = bytes.try_into().ok()?;
        let (proven, next) = bytes.split_at(8);
        Some(Checkpoint {
            proven_through: u64::from_le_bytes(proven.try_into().ok()?),
            next_batch: u64::from_le_bytes(next.try_into().ok()?),
        })
    }
}

/// Batches being built, offered and proven.
pub(crate) struct Handoff {
    log: RecordLog,
    written: Checkpoint,
    open_hashes: Vec<B256>,
    open_witnesses: Vec<Witness>,
    open_first: u64,
    opened_at: Option<Instant>,
    /// Offered and not yet proven: number → (first block, last block).
    outstanding: BTreeMap<u64, (u64, u64)>,
    /// The last block in any batch closed so far.
    last_batched: u64,
}

impl Handoff {
    /// Opens the hand-off log at `path` (created if missing) and compacts it to its last
    /// checkpoint. A log whose records are not checkpoints is an error.
    pub(crate) fn open(path: &Path) -> Result<Handoff, String> {
        let recovered = RecordLog::open(path, HANDOFF_MAGIC)
            .map_err(|e| format!("hand-off log {}: {e}", path.display()))?;
        let written = match recovered.records.last() {
            None => Checkpoint::default(),
            Some(record) => Checkpoint::from_bytes(record).ok_or_else(|| {
                format!(
                    "hand-off log {}: a record of {} bytes is not a checkpoint",
                    path.display(),
                    record.len()
                )
            })?,
        };
        drop(recovered.log);
        let log = RecordLog::rewrite(path, HANDOFF_MAGIC, &[written.to_bytes().to_vec()])
            .map_err(|e| format!("cannot rewrite {}: {e}", path.display()))?;
        Ok(Handoff {
            log,
            written,
            open_hashes: Vec::new(),
            open_witnesses: Vec::new(),
            open_first: 0,
            opened_at: None,
            outstanding: BTreeMap::new(),
            last_batched: written.proven_through,
        })
    }

    /// The last block of the proven prefix as the log last recorded it.
    pub(crate) fn proven_through(&self) -> u64 {
        self.written.proven_through
    }

    /// Batches offered and not yet proven.
    pub(crate) fn awaiting(&self) -> usize {
        self.outstanding.len()
    }

    /// Adds a sealed block's witness to the open batch. `due_now` makes the open batch due at
    /// once (blocks sealed before a restart, offered again).
    pub(crate) fn push(&mut self, number: u64, hash: B256, witness: Witness, due_now: bool) {
        if self.open_hashes.is_empty() {
            self.open_first = number;
            self.opened_at = Some(Instant::now());
        }
        if due_now {
            self.opened_at = None;
        }
        self.open_hashes.push(hash);
        self.open_witnesses.push(witness);
    }

    /// Closes the batches that are due (at most `max_blocks` blocks each), records the next
    /// batch number durably, and returns them for offering. An error means nothing was
    /// closed.
    pub(crate) fn close_due(
        &mut self,
        max_blocks: usize,
        max_age: Duration,
    ) -> Result<Vec<Batch>, String> {
        let max_blocks = max_blocks.max(1);
        let aged = self.opened_at.is_none_or(|t| t.elapsed() >= max_age);
        let due = !self.open_hashes.is_empty() && (aged || self.open_hashes.len() >= max_blocks);
        if !due {
            return Ok(Vec::new());
        }
        // Whole batches of max_blocks; the remainder too if the open batch has aged.
        let mut take = self.open_hashes.len();
        if !aged {
            take -= take % max_blocks;
        }
        let count = take.div_ceil(max_blocks) as u64;
        self.write(Checkpoint {
            next_batch: self.written.next_batch + count,
            ..self.written
        })?;
        let mut batches = Vec::new();
        let mut hashes = self.open_hashes.drain(..take);
        let mut witnesses = self.open_witnesses.drain(..take);
        let mut first = self.open_first;
        for i in 0..count {
            let block_hashes: Vec<B256> = hashes.by_ref().take(max_blocks).collect();
            let len = block_hashes.len() as u64;
            let number = self.written.next_batch - count + i;
            self.outstanding.insert(number, (first, first + len - 1));
            self.last_batched = first + len - 1;
            batches.push(Batch {
                number,
                first_block: first,
                block_hashes,
                witnesses: witnesses.by_ref().take(max_blocks).collect(),
            });
            first += len;
        }
        drop((hashes, witnesses));
        self.open_first = first;
        if self.open_hashes.is_empty() {
            self.opened_at = None;
        }
        Ok(batches)
    }

    /// Records that batch `number` is proven; if that extends the proven prefix, the new
    /// prefix is written to the log. An unknown number changes nothing.
    pub(crate) fn proven(&mut self, number: u64) -> Result<(), String> {
        if self.outstanding.remove(&number).is_none() {
            return Ok(());
        }
        let lowest_unproven = self
            .outstanding
            .values()
            .map(|(first, _)| *first)
            .min()
            .unwrap_or(self.last_batched + 1);
        let proven_through = lowest_unproven - 1;
        if proven_through > self.written.proven_through {
            self.write(Checkpoint {
                proven_through,
                ..self.written
            })?;
        }
        Ok(())
    }

    fn write(&mut self, checkpoint: Checkpoint) -> Result<(), String> {
        self.log
            .append([checkpoint.to_bytes().as_slice()])
            .and_then(|()| self.log.sync())
            .map_err(|e| format!("hand-off log write failed: {e}"))?;
        self.written = checkpoint;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in witness for block `number` (the hand-off only carries witnesses).
    fn witness(number: u64) -> Witness {
        Witness {
            env: zkbox_evm::BlockEnv {
                chain_id: 1,
                spec: 0,
                parent_hash: B256::ZERO,
                number,
                timestamp: 0,
                gas_limit: 0,
                base_fee: 0,
                beneficiary: alloy_primitives::Address::ZERO,
                prev_randao: B256::ZERO,
                excess_blob_gas: 0,
            },
            pre_state_root: B256::ZERO,
            transactions: Vec::new(),
            nodes: Vec::new(),
            codes: Vec::new(),
            block_hashes: Vec::new(),
        }
    }

    fn push_blocks(h: &mut Handoff, blocks: std::ops::RangeInclusive<u64>, due_now: bool) {
        for n in blocks {
            h.push(n, B256::with_last_byte(n as u8), witness(n), due_now);
        }
    }

    fn ranges(batches: &[Batch]) -> Vec<(u64, u64, usize)> {
        batches
            .iter()
            .map(|b| {
                assert_eq!(b.block_hashes.len(), b.witnesses.len());
                for (i, w) in b.witnesses.iter().enumerate() {
                    assert_eq!(w.env.number, b.first_block + i as u64);
                    assert_eq!(b.block_hashes[i], B256::with_last_byte(w.env.number as u8));
                }
                (b.number, b.first_block, b.block_hashes.len())
            })
            .collect()
    }

    #[test]
    fn batches_split_by_size_and_age_and_numbers_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.log");
        let hour = Duration::from_secs(3600);
        let mut h = Handoff::open(&path).unwrap();
        assert_eq!(h.written, Checkpoint::default());
        // Young: only whole batches close; the third block waits.
        push_blocks(&mut h, 1..=3, false);
        assert_eq!(ranges(&h.close_due(2, hour).unwrap()), [(1, 1, 2)]);
        assert!(h.close_due(2, hour).unwrap().is_empty());
        // Aged (or re-offered after a restart): everything goes, in batches of at most two.
        push_blocks(&mut h, 4..=6, true);
        assert_eq!(
            ranges(&h.close_due(2, hour).unwrap()),
            [(2, 3, 2), (3, 5, 2)]
        );
        assert_eq!(h.awaiting(), 3);
        drop(h);
        let h = Handoff::open(&path).unwrap();
        assert_eq!(
            h.written,
            Checkpoint {
                proven_through: 0,
                next_batch: 4
            }
        );
    }

    #[test]
    fn only_a_gapless_proven_prefix_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.log");
        let mut h = Handoff::open(&path).unwrap();
        push_blocks(&mut h, 1..=6, true);
        assert_eq!(h.close_due(2, Duration::ZERO).unwrap().len(), 3);
        // Batch 2 (blocks 3-4) proven first: block 1 is not, so nothing is recorded.
        h.proven(2).unwrap();
        assert_eq!(h.proven_through(), 0);
        h.proven(1).unwrap();
        assert_eq!(h.proven_through(), 4);
        h.proven(99).unwrap();
        h.proven(1).unwrap();
        assert_eq!(h.awaiting(), 1);
        // Block 7 is open, not offered: proving batch 3 covers through block 6 only.
        push_blocks(&mut h, 7..=7, false);
        h.proven(3).unwrap();
        assert_eq!(h.proven_through(), 6);
        drop(h);
        let h = Handoff::open(&path).unwrap();
        assert_eq!(
            h.written,
            Checkpoint {
                proven_through: 6,
                next_batch: 4
            }
        );
    }

    #[test]
    fn a_log_that_holds_no_checkpoint_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.log");
        let mut log = RecordLog::open(&path, HANDOFF_MAGIC).unwrap().log;
        log.append([b"not sixteen".as_slice()]).unwrap();
        log.sync().unwrap();
        drop(log);
        let err = Handoff::open(&path).err().unwrap();
        assert!(err.contains("not a checkpoint"), "{err}");
        // Another log's file in its place is refused too.
        std::fs::write(&path, b"ZKBXBLK1").unwrap();
        assert!(Handoff::open(&path).is_err());
    }
}

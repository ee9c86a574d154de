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
//! of the longest proven prefix of the chain (number and hash), and the next batch number. One is appended and
//! fsync'd before every offer (so a batch number is never offered twice, even across a
//! crash) and after every proof that extends the proven prefix. At start the last one is
//! read and checked against the chain (a prefix the chain does not have stops the start),
//! and every block after its prefix is executed again with its witness and offered anew,
//! under new numbers: a crash or restart loses no block's proof, and a block proven
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
    /// That block's hash (zero while none is proven).
    pub proven_hash: B256,
    /// The number the next batch offered gets.
    pub next_batch: u64,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint {
            proven_through: 0,
            proven_hash: B256::ZERO,
            next_batch: 1,
        }
    }
}

/// Bytes of an encoded [`Checkpoint`]: two little-endian u64 around the hash.
const CHECKPOINT_LEN: usize = 48;

impl Checkpoint {
    fn to_bytes(self) -> [u8; CHECKPOINT_LEN] {
        let mut out = [0u8; CHECKPOINT_LEN];
        out[..8].copy_from_slice(&self.proven_through.to_le_bytes());
        out[8..40].copy_from_slice(self.proven_hash.as_slice());
        out[40..].copy_from_slice(&self.next_batch.to_le_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != CHECKPOINT_LEN {
            return None;
        }
        let u64_at = |at: usize| bytes[at..at + 8].try_into().ok().map(u64::from_le_bytes);
        Some(Checkpoint {
            proven_through: u64_at(0)?,
            proven_hash: B256::from_slice(&bytes[8..40]),
            next_batch: u64_at(40)?,
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

    /// Checks the recorded prefix against the chain: `hash_of(n)` is block `n`'s hash, if the
    /// chain has it. A prefix beyond the chain or on another chain is an error (the logs
    /// were replaced, cut or mixed up: proofs of those blocks prove nothing here).
    pub(crate) fn check_against(
        &self,
        hash_of: impl Fn(u64) -> Option<B256>,
    ) -> Result<(), String> {
        let Checkpoint {
            proven_through,
            proven_hash,
            ..
        } = self.written;
        if proven_through == 0 || hash_of(proven_through) == Some(proven_hash) {
            return Ok(());
        }
        Err(format!(
            "the hand-off log says block {proven_through} ({proven_hash}) is proven, but the \
             block log has {}: a block log from another chain, or cut short? (remove \
             handoff.log only if every block is to be proven again)",
            hash_of(proven_through).map_or("no such block".to_owned(), |h| format!("{h} there"))
        ))
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
    /// prefix (its last block's hash from `hash_of`) is written to the log. An unknown
    /// number changes nothing.
    pub(crate) fn proven(
        &mut self,
        number: u64,
        hash_of: impl Fn(u64) -> Option<B256>,
    ) -> Result<(), String> {
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
            let proven_hash = hash_of(proven_through)
                .ok_or_else(|| format!("proven block {proven_through} is not in the chain"))?;
            self.write(Checkpoint {
                proven_through,
                proven_hash,
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

    impl Handoff {
        fn proven_in_test(&mut self, number: u64) -> Result<(), String> {
            self.proven(number, |n| Some(B256::with_last_byte(n as u8)))
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
                next_batch: 4,
                ..Checkpoint::default()
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
        h.proven_in_test(2).unwrap();
        assert_eq!(h.proven_through(), 0);
        h.proven_in_test(1).unwrap();
        assert_eq!(h.proven_through(), 4);
        h.proven_in_test(99).unwrap();
        h.proven_in_test(1).unwrap();
        assert_eq!(h.awaiting(), 1);
        // Block 7 is open, not offered: proving batch 3 covers through block 6 only.
        push_blocks(&mut h, 7..=7, false);
        h.proven_in_test(3).unwrap();
        assert_eq!(h.proven_through(), 6);
        drop(h);
        let h = Handoff::open(&path).unwrap();
        assert_eq!(
            h.written,
            Checkpoint {
                proven_through: 6,
                proven_hash: B256::with_last_byte(6),
                next_batch: 4
            }
        );
        // The chain must have that block with that hash.
        h.check_against(|n| Some(B256::with_last_byte(n as u8)))
            .unwrap();
        let err = h
            .check_against(|n| (n < 6).then(B256::default))
            .unwrap_err();
        assert!(
            err.contains("block 6") && err.contains("no such block"),
            "{err}"
        );
        let err = h.check_against(|_| Some(B256::repeat_byte(1))).unwrap_err();
        assert!(err.contains("another chain"), "{err}");
    }

    #[test]
    fn a_log_that_holds_no_checkpoint_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.log");
        let mut log = RecordLog::open(&path, HANDOFF_MAGIC).unwrap().log;
        log.append([b"not a checkpoint's 48 bytes".as_slice()])
            .unwrap();
        log.sync().unwrap();
        drop(log);
        let err = Handoff::open(&path).err().unwrap();
        assert!(err.contains("not a checkpoint"), "{err}");
        // Another log's file in its place is refused too.
        std::fs::write(&path, b"ZKBXBLK1").unwrap();
        assert!(Handoff::open(&path).is_err());
    }
}

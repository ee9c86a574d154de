//! Sender recovery for the transactions being accepted, batched across requests.
//!
//! Recovery is most of the CPU a submission costs, and it is several times cheaper eight at a
//! time ([`zkbox_evm::recover::recover_addresses`]: AVX-512 IFMA where the processor has it).
//! Submissions queue their signatures here; worker threads (`recovery_threads`, by default
//! half the cores: the rest serve JSON-RPC, build blocks and write the logs) take whatever
//! is waiting, up to [`BATCH`] at once, and answer each through its own channel. Under load
//! the queue holds many and batches fill; a lone submission is taken at once and recovered
//! by itself, so batching never waits for company.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use alloy_primitives::{Address, B256, Signature};
use tokio::sync::oneshot;

/// The most signatures a worker takes at once: two vector batches of eight.
pub const BATCH: usize = 16;

/// One signature to recover and where its answer goes.
struct Job {
    signature: Signature,
    prehash: B256,
    answer: oneshot::Sender<Option<Address>>,
}

/// The queue the workers share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// A pool of recovery workers (stopped when dropped: queued jobs are still answered).
pub struct SenderRecovery {
    shared: Arc<Shared>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl SenderRecovery {
    /// Starts `threads` workers (at least one).
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let workers = (0..threads.max(1))
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("sender-recovery-{i}"))
                    .spawn(move || work(&shared))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { shared, workers })
    }

    /// The address that signed `prehash` with `signature` (the executor's rules), or `None`
    /// if nobody did.
    pub async fn recover(&self, signature: Signature, prehash: B256) -> Option<Address> {
        let (answer, answered) = oneshot::channel();
        {
            let mut state = lock(&self.shared);
            if state.closed {
                drop(state);
                return zkbox_evm::recover::recover_address(&signature, &prehash);
            }
            state.jobs.push_back(Job {
                signature,
                prehash,
                answer,
            });
        }
        self.shared.ready.notify_one();
        match answered.await {
            Ok(sender) => sender,
            // A worker cannot drop a job unanswered unless it panicked: decide it here.
            Err(_) => zkbox_evm::recover::recover_address(&signature, &prehash),
        }
    }
}

impl Drop for SenderRecovery {
    fn drop(&mut self) {
        lock(&self.shared).closed = true;
        self.shared.ready.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A worker: waits for jobs, takes up to [`BATCH`], recovers them together, answers.
fn work(shared: &Shared) {
    loop {
        let jobs: Vec<Job> = {
            let mut state = lock(shared);
            while state.jobs.is_empty() && !state.closed {
                state = shared
                    .ready
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if state.jobs.is_empty() {
                return;
            }
            let take = state.jobs.len().min(BATCH);
            state.jobs.drain(..take).collect()
        };
        let items: Vec<(Signature, B256)> = jobs.iter().map(|j| (j.signature, j.prehash)).collect();
        let senders = zkbox_evm::recover::recover_addresses(&items);
        metrics::histogram!("zkbox_sequencer_recovery_batch_size").record(items.len() as f64);
        for (job, sender) in jobs.into_iter().zip(senders) {
            // The submitter may have gone (a closed connection): nothing to tell.
            let _ = job.answer.send(sender);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;
    use k256::ecdsa::SigningKey;

    fn signed(i: u32) -> (Signature, B256, Address) {
        let key = SigningKey::from_slice(keccak256(i.to_be_bytes()).as_slice()).unwrap();
        let prehash = keccak256([i.to_be_bytes(), [1; 4]].concat());
        let (sig, id) = key.sign_prehash_recoverable(prehash.as_slice()).unwrap();
        let signature = Signature::from_signature_and_parity(sig, id.is_y_odd());
        (
            signature,
            prehash,
            Address::from_public_key(key.verifying_key()),
        )
    }

    /// Many concurrent submissions, some with broken signatures: each gets its own answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_submissions_get_their_own_senders() {
        let recovery = Arc::new(SenderRecovery::start(2).unwrap());
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                let recovery = recovery.clone();
                tokio::spawn(async move {
                    let (signature, prehash, signer) = signed(i);
                    if i % 7 == 3 {
                        // s = 0: nobody signed this.
                        let broken = Signature::new(signature.r(), Default::default(), false);
                        (recovery.recover(broken, prehash).await, None)
                    } else {
                        (recovery.recover(signature, prehash).await, Some(signer))
                    }
                })
            })
            .collect();
        for task in tasks {
            let (found, expected) = task.await.unwrap();
            assert_eq!(found, expected);
        }
    }

    /// Dropping the pool stops its workers; a pool that is closed still answers.
    #[tokio::test]
    async fn stops_when_dropped() {
        let recovery = SenderRecovery::start(2).unwrap();
        let (signature, prehash, signer) = signed(1);
        assert_eq!(recovery.recover(signature, prehash).await, Some(signer));
        lock(&recovery.shared).closed = true;
        assert_eq!(recovery.recover(signature, prehash).await, Some(signer));
        drop(recovery);
    }
}

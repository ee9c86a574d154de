//! Hand-off to the prover: sealed blocks arrive in batches whose witnesses verify to the
//! sealed blocks, and too many unproven batches slow and then stop sealing until proofs come.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use common::{dev, transfer};
use zkbox_sequencer::{Backpressure, Batch, BatchSink, Sequencer, SequencerConfig};

#[derive(Default)]
struct Collect(Mutex<Vec<Batch>>);

impl BatchSink for Collect {
    fn offer(&self, batch: Batch) {
        self.0.lock().unwrap().push(batch);
    }
}

async fn sealed(seq: &Sequencer, raw: &str, within: Duration) -> Option<u64> {
    let bytes = alloy_primitives::hex::decode(raw).unwrap();
    let hash = seq.submit(&bytes).await.unwrap();
    seq.wait_for_inclusion(hash, within).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_carry_verifying_witnesses_and_backpressure_stops_sealing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SequencerConfig::dev(dir.path());
    config.block_interval = Duration::from_millis(50);
    config.batch_max_blocks = 1;
    config.batch_max_age = Duration::from_millis(50);
    config.backpressure_slow = 1;
    config.backpressure_stop = 2;
    let sink = Arc::new(Collect::default());
    let (seq, _) = Sequencer::start(config, Some(sink.clone())).unwrap();
    let keys = dev();
    let to = Address::repeat_byte(3);
    let long = Duration::from_secs(30);
    let b1 = sealed(&seq, &transfer(&keys[5], 0, to, 1, 31337), long)
        .await
        .unwrap();
    let b2 = sealed(&seq, &transfer(&keys[5], 1, to, 1, 31337), long)
        .await
        .unwrap();
    assert!(b2 > b1);
    // Both batches are offered (one block each), and then sealing stops.
    let started = Instant::now();
    while seq.batches_awaiting_proof() < 2 {
        assert!(started.elapsed() < long, "batches were not offered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let batches = sink.0.lock().unwrap().clone();
    assert_eq!(batches.len(), 2);
    for batch in &batches {
        assert_eq!(batch.witnesses.len(), 1);
        let witness = zkbox_evm::Witness::decode(&batch.witnesses[0].encode()).unwrap();
        let output = zkbox_evm::verify_and_execute(&witness).unwrap();
        assert_eq!(output.block_hash, batch.block_hashes[0]);
        let chain = seq.read_chain();
        assert_eq!(
            chain.block(batch.first_block).unwrap().hash,
            output.block_hash
        );
    }
    let started = Instant::now();
    while seq.backpressure() != Backpressure::Stopped {
        assert!(
            started.elapsed() < long,
            "backpressure never stopped sealing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stuck = transfer(&keys[5], 2, to, 1, 31337);
    let bytes = alloy_primitives::hex::decode(&stuck).unwrap();
    let hash = seq.submit(&bytes).await.unwrap();
    assert_eq!(
        seq.wait_for_inclusion(hash, Duration::from_millis(800))
            .await,
        None
    );
    // Proofs arrive: sealing resumes.
    for batch in &batches {
        seq.batch_proven(batch.number);
    }
    assert!(seq.wait_for_inclusion(hash, long).await.is_some());
    seq.stop();
}

//! Hand-off to the prover: sealed blocks arrive in batches whose witnesses verify to the
//! sealed blocks, and too many unproven batches slow and then stop sealing until proofs come,
//! which the metrics and the log say.

mod common;

use std::sync::{Arc, Mutex, OnceLock};
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

/// What the process logged (a global subscriber: the block builder logs from its own
/// thread) and its Prometheus metrics, set up once for this test binary.
struct Observed {
    log: Arc<Mutex<Vec<u8>>>,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
}

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The tests of this binary run one at a time: they share the global metrics.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn observed() -> &'static Observed {
    static OBSERVED: OnceLock<Observed> = OnceLock::new();
    OBSERVED.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let writer = LogBuffer(log.clone());
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .init();
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .unwrap();
        Observed { log, metrics }
    })
}

impl Observed {
    fn log_text(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// The value of an unlabelled gauge in the Prometheus text.
    fn gauge(&self, name: &str) -> Option<f64> {
        self.metrics.render().lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(' ')?;
            value.trim().parse().ok()
        })
    }
}

async fn sealed(seq: &Sequencer, raw: &str, within: Duration) -> Option<u64> {
    let bytes = alloy_primitives::hex::decode(raw).unwrap();
    let hash = seq.submit(&bytes).await.unwrap();
    seq.wait_for_inclusion(hash, within).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_carry_verifying_witnesses_and_backpressure_stops_sealing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let observed = observed();
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
    // Operators see it: the gauge (2: stopped), the batches awaiting proofs, a warning.
    assert_eq!(observed.gauge("zkbox_sequencer_backpressure"), Some(2.0));
    assert_eq!(
        observed.gauge("zkbox_sequencer_batches_awaiting_proof"),
        Some(2.0)
    );
    let log = observed.log_text();
    assert!(
        log.contains("backpressure: batches await proofs, sealing 4x less often"),
        "{log}"
    );
    assert!(
        log.contains("backpressure: too many batches await proofs, sealing stopped"),
        "{log}"
    );
    assert!(log.contains("batch offered to the prover"), "{log}");
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
    assert_eq!(observed.gauge("zkbox_sequencer_backpressure"), Some(0.0));
    let log = observed.log_text();
    assert!(
        log.contains("backpressure released: sealing at full rate"),
        "{log}"
    );
    seq.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_prover_attached_a_full_block_seals_early() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = SequencerConfig::dev(dir.path());
    config.block_interval = Duration::from_secs(20);
    config.block_gas_limit = 2 * 21_000;
    let (seq, _) = Sequencer::start(config, Some(Arc::new(Collect::default()))).unwrap();
    let keys = dev();
    let to = Address::repeat_byte(4);
    let started = Instant::now();
    let mut hashes = Vec::new();
    for key in &keys[..2] {
        let raw = alloy_primitives::hex::decode(transfer(key, 0, to, 1, 31337)).unwrap();
        hashes.push(seq.submit(&raw).await.unwrap());
    }
    for hash in hashes {
        let block = seq.wait_for_inclusion(hash, Duration::from_secs(30)).await;
        assert_eq!(block, Some(1));
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "sealed only after {:?}",
        started.elapsed()
    );
    seq.stop();
}

/// Waits until `sink` holds `count` batches; returns them.
async fn offered(sink: &Collect, count: usize) -> Vec<Batch> {
    let started = Instant::now();
    loop {
        let batches = sink.0.lock().unwrap().clone();
        if batches.len() >= count {
            return batches;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} of {count} batches offered",
            batches.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unproven_blocks_are_offered_again_after_a_restart_and_the_data_dir_is_locked() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = |max_blocks: usize| {
        let mut c = SequencerConfig::dev(dir.path());
        c.block_interval = Duration::from_millis(50);
        c.batch_max_blocks = max_blocks;
        c.batch_max_age = Duration::from_millis(50);
        c.backpressure_slow = 100;
        c.backpressure_stop = 200;
        c
    };
    let keys = dev();
    let to = Address::repeat_byte(8);
    let long = Duration::from_secs(30);
    let first = Arc::new(Collect::default());
    let (seq, report) = Sequencer::start(config(1), Some(first.clone())).unwrap();
    assert_eq!(report.reoffered_blocks, 0);
    for nonce in 0..3 {
        sealed(&seq, &transfer(&keys[9], nonce, to, 1, 31337), long)
            .await
            .unwrap();
    }
    let batches = offered(&first, 3).await;
    assert_eq!(
        batches.iter().map(|b| b.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // A second sequencer on the same directory is refused while this one runs.
    let refused = Sequencer::start(config(1), None).unwrap_err();
    assert!(
        refused.contains("in use by another sequencer")
            && refused.contains(&std::process::id().to_string()),
        "{refused}"
    );
    // Batches 1 and 3 are proven, 2 is not: after a restart blocks 2 and 3 are offered again
    // (3 only follows an unproven block), under a new number.
    seq.batch_proven(1);
    seq.batch_proven(3);
    seq.stop();
    drop(seq);

    let second = Arc::new(Collect::default());
    let (seq, report) = Sequencer::start(config(16), Some(second.clone())).unwrap();
    assert_eq!(report.blocks, 3);
    assert_eq!(report.reoffered_blocks, 2);
    let again = offered(&second, 1).await;
    assert_eq!(again.len(), 1);
    let batch = &again[0];
    assert_eq!(batch.number, 4);
    assert_eq!(batch.first_block, batches[1].first_block);
    assert_eq!(
        batch.block_hashes,
        [batches[1].block_hashes[0], batches[2].block_hashes[0]]
    );
    for (witness, hash) in batch.witnesses.iter().zip(&batch.block_hashes) {
        let output = zkbox_evm::verify_and_execute(witness).unwrap();
        assert_eq!(output.block_hash, *hash);
    }
    seq.batch_proven(4);
    seq.stop();
    drop(seq);

    // Everything proven: nothing is offered again.
    let third = Arc::new(Collect::default());
    let (seq, report) = Sequencer::start(config(16), Some(third.clone())).unwrap();
    assert_eq!(report.reoffered_blocks, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(third.0.lock().unwrap().is_empty());
    // Still sealing, and numbering goes on from 5.
    sealed(&seq, &transfer(&keys[9], 3, to, 1, 31337), long)
        .await
        .unwrap();
    assert_eq!(offered(&third, 1).await[0].number, 5);
    seq.stop();
    // Stopped: later submissions are refused, not acknowledged into a closed log.
    let late = alloy_primitives::hex::decode(transfer(&keys[9], 4, to, 1, 31337)).unwrap();
    assert!(matches!(
        seq.submit(&late).await,
        Err(zkbox_sequencer::TxError::Unavailable(_))
    ));
    drop(seq);
    // A hand-off log whose proven prefix the block log does not hold stops the start.
    std::fs::remove_file(dir.path().join("blocks.log")).unwrap();
    let refused = Sequencer::start(config(16), Some(Arc::new(Collect::default()))).unwrap_err();
    assert!(refused.contains("hand-off log says block 3"), "{refused}");
}

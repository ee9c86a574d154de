//! Append-only, checksummed record logs: the acceptance log and the block log.
//!
//! # File format
//!
//! ```text
//! header   8 bytes   magic, names the log ("ZKBXACC1" acceptance, "ZKBXBLK1" blocks)
//! record*  4 bytes   payload length, little-endian u32 (at most MAX_RECORD)
//!          4 bytes   CRC-32 (IEEE) of the payload, little-endian
//!          n bytes   payload
//! ```
//!
//! A record is durable once [`RecordLog::sync`] has returned after it was appended. On
//! [`RecordLog::open`] the log is read from the start; the first record that is cut short
//! (a torn write) or whose checksum does not match ends the log, and the file is truncated
//! there, so the next append continues from the last good record. Only records that were
//! never acknowledged can be lost that way: a record is acknowledged only after the sync that
//! covers it.
//!
//! [`GroupCommit`] puts a writer thread in front of a log: many appenders hand it records and
//! wait, and it writes everything queued since its last sync with one `fdatasync`, so the cost
//! of a sync is shared by every record that arrived while the previous one ran.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

/// Length of a log's magic header.
pub const MAGIC_LEN: usize = 8;
/// Largest payload a record may carry (16 MiB): bounds what recovery allocates.
pub const MAX_RECORD: usize = 16 << 20;
const FRAME: usize = 8;

/// An open log positioned at its end.
#[derive(Debug)]
pub struct RecordLog {
    file: File,
    path: PathBuf,
    len: u64,
}

/// What [`RecordLog::open`] found.
#[derive(Debug)]
pub struct Recovered {
    /// The log, ready for appends after its last good record.
    pub log: RecordLog,
    /// Every good record's payload, in order.
    pub records: Vec<Vec<u8>>,
    /// Bytes cut from the end (a torn or corrupt tail); 0 for a clean log.
    pub truncated_bytes: u64,
}

impl RecordLog {
    /// Opens (or creates) the log at `path` whose header is `magic`, reads every good record
    /// and truncates a torn or corrupt tail. A file with another header is an error.
    pub fn open(path: &Path, magic: &[u8; MAGIC_LEN]) -> io::Result<Recovered> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let file_len = file.metadata()?.len();
        if file_len < MAGIC_LEN as u64 {
            // New, or torn while the header itself was written: start it afresh.
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(magic)?;
            file.sync_all()?;
            sync_parent(path)?;
            return Ok(Recovered {
                log: RecordLog {
                    file,
                    path: path.to_owned(),
                    len: MAGIC_LEN as u64,
                },
                records: Vec::new(),
                truncated_bytes: file_len,
            });
        }
        let mut header = [0u8; MAGIC_LEN];
        file.seek(SeekFrom::Start(0))?;
        file.read_exact(&mut header)?;
        if &header != magic {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not a {} log (header {:?})",
                    path.display(),
                    String::from_utf8_lossy(magic),
                    String::from_utf8_lossy(&header)
                ),
            ));
        }
        let mut reader = io::BufReader::with_capacity(1 << 20, &mut file);
        let mut records = Vec::new();
        let mut good = MAGIC_LEN as u64;
        loop {
            let mut frame = [0u8; FRAME];
            if read_full(&mut reader, &mut frame)? < FRAME {
                break;
            }
            let len = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(frame[4..].try_into().expect("4 bytes"));
            if len > MAX_RECORD || good + (FRAME + len) as u64 > file_len {
                break;
            }
            let mut payload = vec![0u8; len];
            if read_full(&mut reader, &mut payload)? < len || crc32fast::hash(&payload) != crc {
                break;
            }
            good += (FRAME + len) as u64;
            records.push(payload);
        }
        drop(reader);
        if good < file_len {
            file.set_len(good)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::Start(good))?;
        Ok(Recovered {
            log: RecordLog {
                file,
                path: path.to_owned(),
                len: good,
            },
            records,
            truncated_bytes: file_len - good,
        })
    }

    /// Appends records (not yet durable: call [`RecordLog::sync`]). On a write error the
    /// file is cut back to where it was, so a failed append leaves no partial record.
    pub fn append<'a>(&mut self, payloads: impl IntoIterator<Item = &'a [u8]>) -> io::Result<()> {
        let mut buf = Vec::new();
        for payload in payloads {
            if payload.len() > MAX_RECORD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("record of {} bytes exceeds {MAX_RECORD}", payload.len()),
                ));
            }
            buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            buf.extend_from_slice(payload);
        }
        if let Err(err) = self.file.write_all(&buf) {
            self.rollback();
            return Err(err);
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Makes every appended record durable (`fdatasync`).
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Bytes in the file, header included.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the log holds no records.
    pub fn is_empty(&self) -> bool {
        self.len <= MAGIC_LEN as u64
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Cuts the file back to the last appended record after a failed write.
    fn rollback(&mut self) {
        let _ = self.file.set_len(self.len);
        let _ = self.file.seek(SeekFrom::Start(self.len));
    }

    /// Replaces the log at `path` with one holding exactly `records` (written to a temporary
    /// file, synced, renamed over the old one, directory synced), and opens it.
    pub fn rewrite(path: &Path, magic: &[u8; MAGIC_LEN], records: &[Vec<u8>]) -> io::Result<Self> {
        let tmp = path.with_extension("rewrite");
        {
            let mut file = File::create(&tmp)?;
            file.write_all(magic)?;
            let mut log = RecordLog {
                file,
                path: tmp.clone(),
                len: MAGIC_LEN as u64,
            };
            log.append(records.iter().map(Vec::as_slice))?;
            log.file.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        sync_parent(path)?;
        let recovered = RecordLog::open(path, magic)?;
        Ok(recovered.log)
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match reader.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Syncs the directory holding `path`, so a created or renamed file survives a crash.
fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// A waiter's answer: `Ok` once its record is durable.
pub type CommitResult = Result<(), String>;

struct Pending {
    payload: Vec<u8>,
    done: tokio::sync::oneshot::Sender<CommitResult>,
}

/// What the writer thread is asked to do.
enum Job {
    Append(Pending),
    /// Finish what was queued before, close the log and stop ([`GroupCommit::close`]).
    Close(mpsc::Sender<()>),
}

/// A writer thread in front of a [`RecordLog`] that shares each `fdatasync` among every
/// record queued while the previous one ran (group commit).
#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::SyncSender<Job>,
}

/// How many records one group commit takes at most.
const MAX_GROUP: usize = 8192;

impl GroupCommit {
    /// Starts the writer thread; it runs until every [`GroupCommit`] handle is dropped or
    /// [`GroupCommit::close`] is called.
    /// `queue_limit` bounds the records waiting for the writer (appenders then wait).
    pub fn start(mut log: RecordLog, name: &'static str, queue_limit: usize) -> Self {
        let (queue, rx) = mpsc::sync_channel::<Job>(queue_limit.max(1));
        let spawned = std::thread::Builder::new()
            .name(format!("{name}-log"))
            .spawn(move || {
                let mut failed: Option<String> = None;
                while let Ok(first) = rx.recv() {
                    let mut group = Vec::new();
                    let mut close = None;
                    let mut next = Some(first);
                    while let Some(job) = next {
                        match job {
                            Job::Append(p) => group.push(p),
                            Job::Close(ack) => {
                                close = Some(ack);
                                break;
                            }
                        }
                        next = if group.len() < MAX_GROUP {
                            rx.try_recv().ok()
                        } else {
                            None
                        };
                    }
                    if group.is_empty() {
                        if let Some(ack) = close {
                            drop(log);
                            let _ = ack.send(());
                            break;
                        }
                        continue;
                    }
                    let started = Instant::now();
                    let result = if let Some(why) = &failed {
                        Err(why.clone())
                    } else if let Err(e) = log.append(group.iter().map(|p| p.payload.as_slice())) {
                        // The write was rolled back; it may succeed later (a full disk freed).
                        Err(format!("{name} log write failed: {e}"))
                    } else if let Err(e) = log.sync() {
                        // After a failed fsync the file's state is unknown: refuse from now
                        // on (a restart recovers from what is on disk).
                        let why = format!("{name} log fsync failed: {e}");
                        failed = Some(why.clone());
                        Err(why)
                    } else {
                        Ok(())
                    };
                    if let Err(why) = &result {
                        tracing::error!(log = name, error = %why, "log append failed; refused");
                    }
                    metrics::histogram!("zkbox_sequencer_log_commit_seconds", "log" => name)
                        .record(started.elapsed().as_secs_f64());
                    metrics::histogram!("zkbox_sequencer_log_group_size", "log" => name)
                        .record(group.len() as f64);
                    for p in group {
                        let _ = p.done.send(result.clone());
                    }
                    if let Some(ack) = close {
                        // Records queued after the close find the queue gone: refused.
                        drop(log);
                        let _ = ack.send(());
                        break;
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::error!(%err, "cannot start the {name} log writer");
        }
        GroupCommit { queue }
    }

    /// Appends `payload` and resolves once it is durable (or the write failed).
    pub async fn commit(&self, payload: Vec<u8>) -> CommitResult {
        let (done, wait) = tokio::sync::oneshot::channel();
        let queue = self.queue.clone();
        let pending = Job::Append(Pending { payload, done });
        // The bounded queue may block when the writer falls behind: wait off the runtime.
        match queue.try_send(pending) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(pending)) => {
                let sent = tokio::task::spawn_blocking(move || queue.send(pending).is_ok())
                    .await
                    .unwrap_or(false);
                if !sent {
                    return Err("the log writer has stopped".into());
                }
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                return Err("the log writer has stopped".into());
            }
        }
        wait.await
            .unwrap_or_else(|_| Err("the log writer has stopped".into()))
    }

    /// Appends `payload` and blocks the calling thread until it is durable.
    pub fn commit_blocking(&self, payload: Vec<u8>) -> CommitResult {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.queue
            .send(Job::Append(Pending { payload, done }))
            .map_err(|_| "the log writer has stopped".to_owned())?;
        wait.blocking_recv()
            .unwrap_or_else(|_| Err("the log writer has stopped".into()))
    }

    /// Writes and syncs every record queued so far, closes the log and stops the writer;
    /// blocks until it has. Records committed afterwards are refused. Closing twice is fine.
    pub fn close(&self) {
        let (ack, done) = mpsc::channel();
        if self.queue.send(Job::Close(ack)).is_ok() {
            let _ = done.recv();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: &[u8; 8] = b"ZKBXTST1";

    fn records(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![i as u8; i * 7 + 1]).collect()
    }

    #[test]
    fn records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut log = RecordLog::open(&path, MAGIC).unwrap().log;
        let want = records(20);
        log.append(want.iter().map(Vec::as_slice)).unwrap();
        log.sync().unwrap();
        drop(log);
        let got = RecordLog::open(&path, MAGIC).unwrap();
        assert_eq!(got.records, want);
        assert_eq!(got.truncated_bytes, 0);
    }

    #[test]
    fn every_torn_tail_is_cut_back_to_the_last_whole_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let want = records(6);
        let mut log = RecordLog::open(&path, MAGIC).unwrap().log;
        log.append(want.iter().map(Vec::as_slice)).unwrap();
        log.sync().unwrap();
        drop(log);
        let full = std::fs::read(&path).unwrap();
        // Record boundaries, to know how many whole records each cut keeps.
        let mut ends = vec![MAGIC_LEN];
        for r in &want {
            ends.push(ends.last().unwrap() + FRAME + r.len());
        }
        for cut in MAGIC_LEN..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let got = RecordLog::open(&path, MAGIC).unwrap();
            let whole = ends.iter().filter(|&&e| e <= cut).count() - 1;
            assert_eq!(got.records, want[..whole], "cut at {cut}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), ends[whole] as u64);
            // Appending after recovery continues the log cleanly.
            let mut log = got.log;
            log.append([b"next".as_slice()]).unwrap();
            log.sync().unwrap();
            drop(log);
            let again = RecordLog::open(&path, MAGIC).unwrap();
            assert_eq!(again.records.len(), whole + 1);
            assert_eq!(again.records.last().unwrap(), b"next");
        }
    }

    #[test]
    fn a_corrupt_record_ends_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let want = records(5);
        let mut log = RecordLog::open(&path, MAGIC).unwrap().log;
        log.append(want.iter().map(Vec::as_slice)).unwrap();
        log.sync().unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        // Flip a bit in the third record's payload.
        let third = MAGIC_LEN + (FRAME + 1) + (FRAME + 8) + FRAME + 2;
        bytes[third] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let got = RecordLog::open(&path, MAGIC).unwrap();
        assert_eq!(got.records, want[..2]);
        assert!(got.truncated_bytes > 0);
        // A length field pointing past the end is a torn tail too.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(RecordLog::open(&path, MAGIC).unwrap().records, want[..2]);
    }

    #[test]
    fn a_foreign_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"NOTALOG!and some bytes").unwrap();
        let err = RecordLog::open(&path, MAGIC).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(std::fs::read(&path).unwrap(), b"NOTALOG!and some bytes");
    }

    #[test]
    fn group_commit_makes_every_acknowledged_record_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let log = RecordLog::open(&path, MAGIC).unwrap().log;
        let writer = GroupCommit::start(log, "test", 64);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..50u32 {
                        let payload = [t, i].map(u32::to_le_bytes).concat();
                        writer.commit_blocking(payload).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(writer);
        let got = RecordLog::open(&path, MAGIC).unwrap();
        assert_eq!(got.records.len(), 400);
        let mut seen = got.records.clone();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 400);
    }

    #[test]
    fn close_finishes_what_was_queued_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let log = RecordLog::open(&path, MAGIC).unwrap().log;
        let writer = GroupCommit::start(log, "test", 64);
        // Queued from other threads while the close runs: each is either durable or refused.
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    (0..200u32)
                        .filter(|i| {
                            writer
                                .commit_blocking([t, *i].map(u32::to_le_bytes).concat())
                                .is_ok()
                        })
                        .count()
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(2));
        writer.close();
        writer.close();
        let refused = writer.commit_blocking(b"late".to_vec()).unwrap_err();
        assert!(refused.contains("stopped"), "{refused}");
        let acknowledged: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(
            RecordLog::open(&path, MAGIC).unwrap().records.len(),
            acknowledged
        );
    }

    #[test]
    fn rewrite_replaces_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut log = RecordLog::open(&path, MAGIC).unwrap().log;
        log.append(records(9).iter().map(Vec::as_slice)).unwrap();
        log.sync().unwrap();
        drop(log);
        let keep = records(3);
        let log = RecordLog::rewrite(&path, MAGIC, &keep).unwrap();
        assert!(!log.is_empty());
        drop(log);
        assert_eq!(RecordLog::open(&path, MAGIC).unwrap().records, keep);
    }
}

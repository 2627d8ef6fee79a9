//! A durable FIFO of byte records in a directory: Weir's persistent exporter queue.
//!
//! Records are appended to segment files (`<first seq>.seg`) as `magic, len, seq, crc,
//! payload`; a reader takes them oldest first and acknowledges each once it is done with it
//! (delivered, or given up on and counted). Everything below the lowest unacknowledged sequence
//! number (`head`, kept in the `head` file) is done; a segment whose records are all done is
//! deleted. After a crash, reopening scans the segments: intact records above `head` are
//! delivered again (some twice, if they were acknowledged after `head` was last written), torn
//! or corrupt ones are skipped and counted — never a hang or a panic.
//!
//! Why a segment log of our own rather than an embedded database: a queue only appends, reads
//! in order and deletes whole prefixes, which a log does with one `write` per record and no
//! compaction; every byte of the format is ours to check, so damage is skipped record by
//! record instead of failing the whole store; and it adds one small dependency (crc32fast).

mod record;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// When appended records are forced to the disk (`fdatasync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// After every append, before it returns: an acknowledged record survives a power loss.
    Always,
    /// At the first append 100 ms or more after the previous sync, and on close: a crash of
    /// the process loses nothing (the OS has every write); a power loss can lose what was
    /// appended since the last sync.
    #[default]
    Batch,
    /// Never forced; the OS writes back when it likes. A process crash still loses nothing.
    Never,
}

/// How a spool behaves.
#[derive(Debug, Clone, Copy)]
pub struct SpoolOptions {
    /// Bytes the segment files may take in all; an append beyond is refused ([`SpoolError::Full`]).
    pub max_size: u64,
    /// A new segment starts once the current one holds this many bytes.
    pub segment_size: u64,
    /// When appends reach the disk.
    pub fsync: Fsync,
}

impl SpoolOptions {
    /// `max_size` with segments of a sixteenth of it (1 MiB to 64 MiB).
    pub fn new(max_size: u64, fsync: Fsync) -> SpoolOptions {
        SpoolOptions {
            max_size,
            segment_size: (max_size / 16).clamp(1 << 20, 64 << 20),
            fsync,
        }
    }
}

/// Why a spool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool holds `max_size` bytes: refuse upstream and retry later.
    #[error("the disk queue is full ({used} of {max} bytes)")]
    Full {
        /// Bytes in use.
        used: u64,
        /// The limit.
        max: u64,
    },
    /// The directory or a file could not be used.
    #[error("disk queue {dir}: {error}")]
    Io {
        /// The spool's directory.
        dir: String,
        /// What failed.
        error: std::io::Error,
    },
    /// The spool was closed.
    #[error("the disk queue is closed")]
    Closed,
    /// Another spool (another process, or an exporter still draining) has the directory.
    #[error("disk queue {dir} is in use by another exporter or process")]
    InUse {
        /// The spool's directory.
        dir: String,
    },
}

/// What reopening found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Intact records waiting to be delivered.
    pub records: u64,
    /// Records known lost to damage: gaps in the sequence numbers above `head`, plus each
    /// torn tail (a record cut short).
    pub lost: u64,
    /// Damaged stretches stepped over.
    pub damaged: u64,
}

/// One record handed to a reader; [`Spool::ack`] its `seq` when done with it.
#[derive(Debug)]
pub struct Record {
    /// Its sequence number.
    pub seq: u64,
    /// Its bytes.
    pub payload: Vec<u8>,
}

/// One segment file.
struct Segment {
    /// The highest sequence number written to it so far (`first - 1` when empty).
    last: u64,
    path: PathBuf,
    file: Arc<File>,
    bytes: u64,
}

/// Where a waiting record sits.
struct Entry {
    seq: u64,
    file: Arc<File>,
    offset: u64,
    len: u32,
}

struct State {
    segments: VecDeque<Segment>,
    next_seq: u64,
    pending: VecDeque<Entry>,
    /// Every record below it is done: the lowest outstanding one (readers finish out of
    /// order), or `next_seq` when none is.
    head: u64,
    /// Sequence numbers waiting or handed out and not yet acknowledged.
    outstanding: BTreeSet<u64>,
    /// Records handed to a reader and not yet acknowledged, to be given back by
    /// [`Spool::release`].
    handed: BTreeMap<u64, Entry>,
    /// Limits and syncing, changeable while the spool is open ([`Spool::set_options`]).
    options: SpoolOptions,
    bytes: u64,
    last_sync: Instant,
    head_written: u64,
    closed: bool,
}

/// A durable FIFO of records in one directory. Appends and acks are synchronous file I/O (call
/// them where blocking is allowed); [`Spool::next`] waits asynchronously for a record.
pub struct Spool {
    /// Held (locked) for the spool's life.
    _lock: File,
    dir: PathBuf,
    state: Mutex<State>,
    /// `append` wakes one waiting reader; `close` wakes them all.
    ready: Notify,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The largest record a scan accepts (a corrupt length above it is damage, not a record).
const MAX_RECORD: u32 = 1 << 30;

/// How long `Batch` lets appends go unsynced.
const SYNC_EVERY: Duration = Duration::from_millis(100);

impl Spool {
    /// Opens (creating if needed) the spool in `dir` and recovers what it holds.
    pub fn open(dir: &Path, options: SpoolOptions) -> Result<(Spool, Recovered), SpoolError> {
        let io = |error| SpoolError::Io {
            dir: dir.display().to_string(),
            error,
        };
        fs::create_dir_all(dir).map_err(io)?;
        // One spool per directory: two writers would interleave their segments.
        let lock = File::create(dir.join("lock")).map_err(io)?;
        if lock.try_lock().is_err() {
            return Err(SpoolError::InUse {
                dir: dir.display().to_string(),
            });
        }
        let head = read_head(&dir.join("head"));
        let mut names: Vec<(u64, PathBuf)> = Vec::new();
        for entry in fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let first = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(first) = first {
                names.push((first, path));
            }
        }
        names.sort();
        let mut recovered = Recovered::default();
        let mut segments = VecDeque::new();
        let mut pending = VecDeque::new();
        let mut outstanding = BTreeSet::new();
        let mut bytes = 0;
        let mut expect: Option<u64> = None;
        let mut max_seq: Option<u64> = None;
        for (first, path) in names {
            let data = fs::read(&path).map_err(io)?;
            let scan = record::scan(&data, MAX_RECORD);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io)?;
            if scan.torn {
                // Cut the tail off, so appends continue after the last intact record.
                file.set_len(scan.valid_end).map_err(io)?;
                recovered.lost += 1;
            }
            recovered.damaged += scan.damaged;
            let file = Arc::new(file);
            let mut last = first.saturating_sub(1);
            for f in &scan.records {
                max_seq = Some(max_seq.map_or(f.seq, |m| m.max(f.seq)));
                last = last.max(f.seq);
                if f.seq < head {
                    continue;
                }
                if let Some(e) = expect
                    && f.seq > e
                {
                    recovered.lost += f.seq - e;
                }
                expect = Some(f.seq + 1);
                outstanding.insert(f.seq);
                pending.push_back(Entry {
                    seq: f.seq,
                    file: file.clone(),
                    offset: f.offset,
                    len: f.len,
                });
            }
            bytes += scan.valid_end;
            segments.push_back(Segment {
                last,
                path,
                file,
                bytes: scan.valid_end,
            });
        }
        recovered.records = pending.len() as u64;
        let next_seq = max_seq.map_or(head, |m| (m + 1).max(head));
        let spool = Spool {
            _lock: lock,
            dir: dir.to_path_buf(),
            state: Mutex::new(State {
                segments,
                next_seq,
                pending,
                head,
                outstanding,
                handed: BTreeMap::new(),
                options,
                bytes,
                last_sync: Instant::now(),
                head_written: head,
                closed: false,
            }),
            ready: Notify::new(),
        };
        {
            let mut st = spool.lock();
            spool.advance_head(&mut st).map_err(io)?;
        }
        Ok((spool, recovered))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn io(&self, error: std::io::Error) -> SpoolError {
        SpoolError::Io {
            dir: self.dir.display().to_string(),
            error,
        }
    }

    /// Appends one record; once this returns `Ok` it is written (and synced per `fsync`).
    pub fn append(&self, payload: &[u8]) -> Result<u64, SpoolError> {
        let mut st = self.lock();
        if st.closed {
            return Err(SpoolError::Closed);
        }
        let len = (record::HEADER + payload.len()) as u64;
        if st.bytes + len > st.options.max_size {
            return Err(SpoolError::Full {
                used: st.bytes,
                max: st.options.max_size,
            });
        }
        let seq = st.next_seq;
        let roll = st
            .segments
            .back()
            .is_none_or(|s| s.bytes > 0 && s.bytes + len > st.options.segment_size);
        if roll {
            let path = self.dir.join(format!("{seq:020}.seg"));
            let file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| self.io(e))?;
            if st.options.fsync != Fsync::Never
                && let Ok(d) = File::open(&self.dir)
            {
                let _ = d.sync_all();
            }
            st.segments.push_back(Segment {
                last: seq.saturating_sub(1),
                path,
                file: Arc::new(file),
                bytes: 0,
            });
        }
        let sync = match st.options.fsync {
            Fsync::Always => true,
            Fsync::Batch => st.last_sync.elapsed() >= SYNC_EVERY,
            Fsync::Never => false,
        };
        let Some(seg) = st.segments.back_mut() else {
            return Err(SpoolError::Closed);
        };
        let offset = seg.bytes;
        seg.file
            .write_all_at(&record::encode(seq, payload), offset)
            .map_err(|e| self.io(e))?;
        if sync {
            seg.file.sync_data().map_err(|e| self.io(e))?;
        }
        seg.bytes += len;
        seg.last = seq;
        let file = seg.file.clone();
        if sync {
            st.last_sync = Instant::now();
        }
        st.bytes += len;
        st.next_seq = seq + 1;
        st.outstanding.insert(seq);
        st.pending.push_back(Entry {
            seq,
            file,
            offset,
            len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
        });
        drop(st);
        self.ready.notify_one();
        Ok(seq)
    }

    /// The oldest record not yet handed out, waiting for one; `None` once closed and empty.
    /// A record that no longer reads back intact is logged and skipped.
    pub async fn next(&self) -> Option<Record> {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let entry = {
                let mut st = self.lock();
                match st.pending.pop_front() {
                    Some(e) => Some(e),
                    None if st.closed => return None,
                    None => None,
                }
            };
            match entry {
                Some(e) => match read_record(&e) {
                    Some(payload) => {
                        let seq = e.seq;
                        self.lock().handed.insert(seq, e);
                        return Some(Record { seq, payload });
                    }
                    // Damaged since it was scanned: one record lost (its items are unknown).
                    None => {
                        tracing::error!(dir = %self.dir.display(), seq = e.seq,
                            "a disk queue record no longer reads back intact; it is lost");
                        let _ = self.ack(e.seq);
                        continue;
                    }
                },
                None => notified.await,
            }
        }
    }

    /// Marks record `seq` done (delivered, or given up on and counted): it will not be read
    /// again after a restart, once every older record is done too.
    pub fn ack(&self, seq: u64) -> Result<(), SpoolError> {
        let mut st = self.lock();
        st.handed.remove(&seq);
        if !st.outstanding.remove(&seq) {
            return Ok(());
        }
        self.advance_head(&mut st).map_err(|e| self.io(e))
    }

    /// Gives record `seq`, handed out and not done, back to the queue: the next reader gets it
    /// before any newer record (a sender that stops, e.g. because its exporter was replaced,
    /// leaves its batches to the senders that take over). Nothing happens to a record that
    /// was acknowledged or never handed out.
    pub fn release(&self, seq: u64) {
        let mut st = self.lock();
        let Some(e) = st.handed.remove(&seq) else {
            return;
        };
        let at = st.pending.partition_point(|p| p.seq < seq);
        st.pending.insert(at, e);
        drop(st);
        self.ready.notify_one();
    }

    /// Changes the size limit and syncing of an open spool (a reloaded exporter's new
    /// settings); a smaller `max_size` refuses appends until enough is delivered.
    pub fn set_options(&self, options: SpoolOptions) {
        self.lock().options = options;
    }

    /// Moves `head` past every done record, deletes segments wholly below it and writes the
    /// head file when it moved.
    fn advance_head(&self, st: &mut State) -> std::io::Result<()> {
        st.head = st.outstanding.first().copied().unwrap_or(st.next_seq);
        while st.segments.len() > 1 && st.segments.front().is_some_and(|s| s.last < st.head) {
            if let Some(s) = st.segments.pop_front() {
                st.bytes = st.bytes.saturating_sub(s.bytes);
                fs::remove_file(&s.path)?;
            }
        }
        if st.head != st.head_written {
            write_head(&self.dir, st.head, st.options.fsync)?;
            st.head_written = st.head;
        }
        Ok(())
    }

    /// Records waiting or handed out and not yet acknowledged.
    pub fn len(&self) -> usize {
        self.lock().outstanding.len()
    }

    /// True if nothing is waiting or outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops appends; readers get what is waiting, then `None`. Syncs the last segment.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        if st.options.fsync != Fsync::Never
            && let Some(s) = st.segments.back()
        {
            let _ = s.file.sync_data();
        }
        let _ = self.advance_head(&mut st);
        drop(st);
        self.ready.notify_waiters();
    }
}

/// The payload of `e`, if it still reads back intact.
fn read_record(e: &Entry) -> Option<Vec<u8>> {
    let mut bytes = vec![0; record::HEADER + e.len as usize];
    e.file.read_exact_at(&mut bytes, e.offset).ok()?;
    let found = record::scan(&bytes, MAX_RECORD);
    (found.records.first().map(|f| f.seq) == Some(e.seq)).then(|| bytes.split_off(record::HEADER))
}

/// The head file: `head` as 8 bytes and their CRC-32; missing or damaged reads as 0 (everything
/// on disk is delivered again: duplicates, never loss).
fn read_head(path: &Path) -> u64 {
    let Ok(b) = fs::read(path) else { return 0 };
    let (Some(n), Some(c)) = (b.get(..8), b.get(8..12)) else {
        return 0;
    };
    let n: [u8; 8] = n.try_into().unwrap_or_default();
    let c: [u8; 4] = c.try_into().unwrap_or_default();
    if crc32fast::hash(&n) == u32::from_le_bytes(c) {
        u64::from_le_bytes(n)
    } else {
        0
    }
}

fn write_head(dir: &Path, head: u64, fsync: Fsync) -> std::io::Result<()> {
    let tmp = dir.join("head.tmp");
    let mut f = File::create(&tmp)?;
    let n = head.to_le_bytes();
    f.write_all(&n)?;
    f.write_all(&crc32fast::hash(&n).to_le_bytes())?;
    if fsync == Fsync::Always {
        f.sync_data()?;
    }
    fs::rename(&tmp, dir.join("head"))
}

#[cfg(test)]
mod tests;

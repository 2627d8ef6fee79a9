//! The spool's contract: FIFO, durable across reopen, bounded, and damage costs only the
//! damaged records.

use std::time::{Duration, Instant};

use super::*;

fn options(max: u64) -> SpoolOptions {
    SpoolOptions {
        max_size: max,
        segment_size: 1024,
        fsync: Fsync::Batch,
    }
}

fn open(dir: &Path) -> (Spool, Recovered) {
    Spool::open(dir, options(1 << 20)).expect("opens")
}

/// Takes every waiting record (the spool must be closed or hold exactly these).
async fn drain(s: &Spool, n: usize) -> Vec<Record> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            tokio::time::timeout(Duration::from_secs(5), s.next())
                .await
                .expect("a record is waiting")
                .expect("not closed"),
        );
    }
    out
}

fn texts(r: &[Record]) -> Vec<String> {
    r.iter()
        .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
        .collect()
}

#[tokio::test]
async fn records_come_out_in_order_and_acked_ones_stay_gone_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (s, rec) = open(dir.path());
    assert_eq!(rec, Recovered::default());
    for i in 0..10 {
        s.append(format!("r{i}").as_bytes()).unwrap();
    }
    let got = drain(&s, 10).await;
    assert_eq!(texts(&got)[..3], ["r0", "r1", "r2"]);
    // Readers finish out of order: 0..4 and 6 are done, 5 is not.
    for r in got.iter().filter(|r| r.seq != 5 && r.seq < 7) {
        s.ack(r.seq).unwrap();
    }
    assert_eq!(s.len(), 4);
    drop(s);
    let (s, rec) = open(dir.path());
    // 5 and everything after the last contiguous ack come back (6 again: a duplicate).
    assert_eq!(rec.records, 5);
    assert_eq!((rec.lost, rec.damaged), (0, 0));
    assert_eq!(texts(&drain(&s, 5).await), ["r5", "r6", "r7", "r8", "r9"]);
    s.append(b"new").unwrap();
    assert_eq!(
        drain(&s, 1).await[0].seq,
        10,
        "numbering goes on after reopen"
    );
}

#[tokio::test]
async fn a_full_spool_refuses_and_takes_again_once_drained() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = Spool::open(dir.path(), options(4096)).unwrap();
    let payload = [7u8; 1000];
    let mut n = 0;
    let err = loop {
        match s.append(&payload) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, SpoolError::Full { max: 4096, .. }), "{err}");
    assert_eq!(n, 4);
    for r in drain(&s, n).await {
        s.ack(r.seq).unwrap();
    }
    s.append(&payload)
        .expect("room after the segments were deleted");
    let segs = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count();
    assert!(segs <= 2, "done segments are deleted ({segs} left)");
}

#[tokio::test]
async fn close_ends_readers_after_what_is_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path());
    let s = Arc::new(s);
    let reader = {
        let s = s.clone();
        tokio::spawn(async move { s.next().await.map(|r| r.payload) })
    };
    s.append(b"one").unwrap();
    assert_eq!(reader.await.unwrap().as_deref(), Some(&b"one"[..]));
    s.append(b"two").unwrap();
    s.close();
    assert!(matches!(s.append(b"x"), Err(SpoolError::Closed)));
    assert_eq!(
        s.next().await.map(|r| r.payload).as_deref(),
        Some(&b"two"[..])
    );
    assert!(s.next().await.is_none());
}

/// Writes 12 records of 100 bytes into one segment and returns its path.
fn filled(dir: &Path) -> PathBuf {
    let one_segment = SpoolOptions {
        segment_size: 1 << 20,
        ..options(1 << 20)
    };
    let (s, _) = Spool::open(dir, one_segment).unwrap();
    for i in 0..12u8 {
        s.append(&[i; 100]).unwrap();
    }
    s.close();
    dir.join(format!("{:020}.seg", 0))
}

fn record_start(i: usize) -> usize {
    i * (record::HEADER + 100)
}

#[tokio::test]
async fn damage_costs_only_the_damaged_records_and_reopening_is_quick() {
    type Damage = fn(&mut Vec<u8>);
    let cases: [(&str, Damage, Vec<u8>, u64); 3] = [
        (
            "truncated last record",
            |b| b.truncate(b.len() - 10),
            (0..11).collect(),
            1,
        ),
        (
            "a bit flipped mid-file",
            |b| b[record_start(5) + record::HEADER + 50] ^= 1,
            (0..12).filter(|i| *i != 5).collect(),
            1,
        ),
        (
            "a zeroed length",
            |b| b[record_start(7) + 4..record_start(7) + 8].fill(0),
            (0..12).filter(|i| *i != 7).collect(),
            1,
        ),
    ];
    for (what, damage, want, lost) in cases {
        let dir = tempfile::tempdir().unwrap();
        let seg = filled(dir.path());
        let mut bytes = fs::read(&seg).unwrap();
        damage(&mut bytes);
        fs::write(&seg, &bytes).unwrap();
        let start = Instant::now();
        let (s, rec) = open(dir.path());
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "{what}: reopened in {took:?}"
        );
        assert_eq!(rec.records, want.len() as u64, "{what}");
        assert_eq!(rec.lost, lost, "{what}");
        let got: Vec<u8> = drain(&s, want.len())
            .await
            .iter()
            .map(|r| r.payload[0])
            .collect();
        assert_eq!(got, want, "{what}: the intact records, in order");
        // Appending goes on cleanly after a cut tail.
        s.append(&[99; 100]).unwrap();
        assert_eq!(drain(&s, 1).await[0].payload[0], 99, "{what}");
    }
}

#[tokio::test]
async fn a_damaged_head_file_redelivers_rather_than_loses() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path());
    for i in 0..3u8 {
        s.append(&[i]).unwrap();
    }
    let first = drain(&s, 1).await;
    s.ack(first[0].seq).unwrap();
    drop(s);
    fs::write(dir.path().join("head"), b"garbage!garbage").unwrap();
    let (s, rec) = open(dir.path());
    assert_eq!(
        rec.records, 3,
        "everything on disk comes back: duplicates, not loss"
    );
    assert_eq!(drain(&s, 3).await.len(), 3);
}

#[tokio::test]
async fn segments_roll_and_reopen_reads_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path());
    for i in 0..50u8 {
        s.append(&[i; 100]).unwrap();
    }
    drop(s);
    let segs = fs::read_dir(dir.path()).unwrap().count();
    assert!(segs > 5, "segments of 1 KiB roll over ({segs} files)");
    let (s, rec) = open(dir.path());
    assert_eq!(rec.records, 50);
    let got: Vec<u8> = drain(&s, 50).await.iter().map(|r| r.payload[0]).collect();
    assert_eq!(got, (0..50).collect::<Vec<u8>>());
}

#[test]
fn a_directory_has_one_spool_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = open(dir.path());
    let err = Spool::open(dir.path(), options(1 << 20)).expect_err("locked");
    assert!(matches!(err, SpoolError::InUse { .. }), "{err}");
    drop(first);
    Spool::open(dir.path(), options(1 << 20)).expect("free again");
}

#[tokio::test]
async fn a_released_record_is_read_again_before_newer_ones_and_an_acked_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path());
    for i in 0..5 {
        s.append(format!("r{i}").as_bytes()).unwrap();
    }
    let first = drain(&s, 3).await;
    assert_eq!(texts(&first), ["r0", "r1", "r2"]);
    // r0 is done; r2 and r1 are given back (out of order): they come back in order, first.
    s.ack(first[0].seq).unwrap();
    s.release(first[2].seq);
    s.release(first[1].seq);
    // Releasing a done record, or one released already, changes nothing.
    s.release(first[0].seq);
    s.release(first[1].seq);
    let again = drain(&s, 4).await;
    assert_eq!(texts(&again), ["r1", "r2", "r3", "r4"]);
    assert_eq!(s.len(), 4);
    for r in &again {
        s.ack(r.seq).unwrap();
    }
    s.close();
    assert!(s.next().await.is_none(), "nothing left");
}

#[tokio::test]
async fn new_options_apply_to_an_open_spool() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path());
    s.append(&[0; 100]).unwrap();
    s.set_options(options(150));
    assert!(
        matches!(s.append(&[0; 100]), Err(SpoolError::Full { max: 150, .. })),
        "the smaller limit holds at once"
    );
    s.set_options(options(1 << 20));
    s.append(&[0; 100]).unwrap();
}

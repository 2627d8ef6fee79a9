//! Batching, stage policies and fan-out, on a paused clock.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio_util::sync::CancellationToken;
use weir_core::otlp::collector::logs::v1::ExportLogsServiceRequest;
use weir_core::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_core::telemetry::Telemetry;
use weir_core::{ConsumeError, Consumer, FailurePolicy, Stage, StageError, batch_queue};

use super::*;
use crate::Fanout;

fn logs(n: usize) -> Batch {
    Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default(); n],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn settings(batch: usize, queue: usize) -> PipelineSettings {
    PipelineSettings {
        id: "logs".into(),
        signal: Signal::Logs,
        queue_size: queue,
        send_batch_size: batch,
        batch_timeout: Duration::from_millis(200),
        ack_processed: false,
    }
}

struct Failing(FailurePolicy);
impl Stage for Failing {
    fn name(&self) -> &str {
        "failing"
    }
    fn failure_policy(&self) -> FailurePolicy {
        self.0
    }
    fn process(&mut self, _: &mut Batch) -> Result<(), StageError> {
        Err(StageError {
            stage: "failing".into(),
            kind: weir_core::FailureKind::Error,
            source: "boom".into(),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn flushes_by_size_and_by_timeout() {
    let t = Telemetry::new();
    let (qtx, qrx) = batch_queue(10, Default::default());
    let (p, input) = Pipeline::new(
        settings(5, 10),
        vec![],
        vec![qtx],
        &t,
        CancellationToken::new(),
    );
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    for _ in 0..3 {
        fan.consume(logs(2)).expect("room");
    }
    // 6 items >= 5: one batch of three requests leaves at once.
    let b = qrx.recv().await.expect("batch");
    assert_eq!((b.item_count(), b.resource_count()), (6, 3));
    fan.consume(logs(1)).expect("room");
    let start = Instant::now();
    let b = qrx.recv().await.expect("batch");
    assert_eq!(b.item_count(), 1);
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    drop(fan);
    task.await.expect("pipeline ends when receivers are gone");
    assert!(
        qrx.recv().await.is_none(),
        "exporter queue closes after the pipeline"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_input_queue_refuses_all_or_nothing() {
    let t = Telemetry::new();
    let (qa, _ra) = batch_queue(1, Default::default());
    let (pa, ia) = Pipeline::new(
        settings(0, 1),
        vec![],
        vec![qa],
        &t,
        CancellationToken::new(),
    );
    let (qb, rb) = batch_queue(10, Default::default());
    let mut sb = settings(0, 10);
    sb.id = "logs/b".into();
    let (pb, ib) = Pipeline::new(sb, vec![], vec![qb], &t, CancellationToken::new());
    // `a` is not running, so its queue only fills; `b` runs and hands on what it gets. `b` comes
    // first, so a refusal must undo nothing there: it must never have been given the request.
    let b_task = tokio::spawn(pb.run());
    let fan = Fanout::new(vec![ib, ia], Arc::new(AtomicBool::new(false)));
    fan.consume(logs(1)).expect("room in both");
    let err = fan.consume(logs(2)).expect_err("a is full");
    assert!(matches!(err, ConsumeError::Full { ref pipeline, .. } if pipeline == "logs"));
    drop((fan, pa));
    b_task.await.expect("b ends");
    let mut got = Vec::new();
    while let Some(batch) = rb.recv().await {
        got.push(batch.item_count());
    }
    assert_eq!(got, [1], "the refused request reached no pipeline");
}

#[tokio::test(start_paused = true)]
async fn the_shutdown_deadline_counts_everything_still_held() {
    let t = Telemetry::new();
    let abandon = CancellationToken::new();
    // An exporter queue of one that nobody drains: the pipeline blocks on the second batch.
    let (qtx, _qrx) = batch_queue(1, Default::default());
    let (p, input) = Pipeline::new(settings(0, 10), vec![], vec![qtx], &t, abandon.clone());
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    for n in [1, 2, 3] {
        fan.consume(logs(n)).expect("room");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    abandon.cancel();
    task.await
        .expect("the pipeline stops at the deadline although its input is open");
    // 1 sits in the exporter queue; 2 waited for room and 3 was in the input queue.
    let want = "weir_pipeline_dropped_items_total{pipeline=\"logs\",signal=\"logs\",reason=\"shutdown\"} 5";
    assert!(t.render().contains(want), "{}", t.render());
    drop(fan);
}

#[tokio::test(start_paused = true)]
async fn stage_failures_follow_the_policy() {
    for (policy, delivered) in [(FailurePolicy::Pass, true), (FailurePolicy::Drop, false)] {
        let t = Telemetry::new();
        let (qtx, qrx) = batch_queue(10, Default::default());
        let (p, input) = Pipeline::new(
            settings(0, 10),
            vec![Step::Function(Box::new(Failing(policy)))],
            vec![qtx],
            &t,
            CancellationToken::new(),
        );
        let task = tokio::spawn(p.run());
        let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
        fan.consume(logs(3)).expect("room");
        drop(fan);
        task.await.expect("ends");
        assert_eq!(qrx.recv().await.is_some(), delivered, "{policy:?}");
        let dropped = if delivered { "0" } else { "3" };
        let want = format!(
            "weir_processor_dropped_items_total{{pipeline=\"logs\",processor=\"failing\",signal=\"logs\"}} {dropped}"
        );
        assert!(t.render().contains(&want), "{}", t.render());
    }
}

#[tokio::test(start_paused = true)]
async fn fans_out_to_every_exporter_and_refuses_when_closing() {
    let t = Telemetry::new();
    let (qa, ra) = batch_queue(10, Default::default());
    let (qb, rb) = batch_queue(10, Default::default());
    let (p, input) = Pipeline::new(
        settings(0, 10),
        vec![],
        vec![qa, qb],
        &t,
        CancellationToken::new(),
    );
    let task = tokio::spawn(p.run());
    let closing = Arc::new(AtomicBool::new(false));
    let fan = Fanout::new(vec![input], closing.clone());
    fan.consume(logs(4)).expect("room");
    assert_eq!(ra.recv().await.map(|b| b.item_count()), Some(4));
    assert_eq!(rb.recv().await.map(|b| b.item_count()), Some(4));
    closing.store(true, std::sync::atomic::Ordering::Release);
    assert!(matches!(
        fan.consume(logs(1)),
        Err(ConsumeError::ShuttingDown)
    ));
    drop(fan);
    task.await.expect("ends");
}

/// Counts its calls per instance and publishes the count, so a test can tell whether a stage
/// kept its instance across a reload.
struct Counting {
    name: &'static str,
    calls: usize,
    seen: Arc<std::sync::atomic::AtomicUsize>,
}
impl Stage for Counting {
    fn name(&self) -> &str {
        self.name
    }
    fn failure_policy(&self) -> FailurePolicy {
        FailurePolicy::Pass
    }
    fn process(&mut self, _: &mut Batch) -> Result<(), StageError> {
        self.calls += 1;
        self.seen
            .store(self.calls, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

fn counting(name: &'static str) -> (Box<dyn Stage>, Arc<std::sync::atomic::AtomicUsize>) {
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stage = Counting {
        name,
        calls: 0,
        seen: seen.clone(),
    };
    (Box::new(stage), seen)
}

#[tokio::test(start_paused = true)]
async fn a_reconfigure_keeps_named_stages_and_swaps_exporters() {
    use std::sync::atomic::Ordering::SeqCst;
    let t = Telemetry::new();
    let (q1, r1) = batch_queue(10, Default::default());
    let (q2, r2) = batch_queue(10, Default::default());
    let ((a, a_seen), (b, b_seen)) = (counting("a"), counting("b"));
    let (mut p, input) = Pipeline::new(
        settings(1, 10),
        vec![a.into(), b.into()],
        vec![q1],
        &t,
        CancellationToken::new(),
    );
    let control = p.control();
    let task = tokio::spawn(p.run());
    let closing = Arc::new(AtomicBool::new(false));
    let switch = crate::Switch::new(Fanout::new(vec![input], closing.clone()));
    switch.consume(logs(1)).expect("room");
    assert_eq!(r1.recv().await.expect("batch").item_count(), 1);

    // `b` stays (its instance has seen one batch), `a` goes, `c` is new; exporter 2 replaces 1.
    let (c, c_seen) = counting("c");
    let change = Reconfigure {
        stages: vec![StageUpdate::Keep("b".into()), StageUpdate::New(c.into())],
        exporters: vec![q2],
        send_batch_size: 1,
        batch_timeout: Duration::from_millis(200),
    };
    control
        .send(change)
        .expect("running")
        .await
        .expect("applied");
    // The old exporter's queue closed: nothing holds its sender any more.
    assert!(r1.recv().await.is_none());
    switch.consume(logs(2)).expect("room");
    assert_eq!(r2.recv().await.expect("batch").item_count(), 2);
    assert_eq!(
        (
            a_seen.load(SeqCst),
            b_seen.load(SeqCst),
            c_seen.load(SeqCst)
        ),
        (1, 2, 1)
    );

    // Re-pointing the switch at another pipeline lets this one drain and stop.
    let (q3, r3) = batch_queue(10, Default::default());
    let (other, other_input) = Pipeline::new(
        settings(1, 10),
        vec![],
        vec![q3],
        &t,
        CancellationToken::new(),
    );
    let other_task = tokio::spawn(other.run());
    switch.set(Fanout::new(vec![other_input], closing));
    task.await
        .expect("the old pipeline ends once no receiver feeds it");
    switch.consume(logs(3)).expect("room");
    assert_eq!(r3.recv().await.expect("batch").item_count(), 3);
    drop(switch);
    other_task.await.expect("ends");
}

mod acks;
mod sampling;

/// Removes one log record per call and notes its name and the record count it saw.
struct Trim {
    name: &'static str,
    blocking: bool,
    seen: Arc<std::sync::Mutex<Vec<(&'static str, usize)>>>,
}
impl Stage for Trim {
    fn name(&self) -> &str {
        self.name
    }
    fn failure_policy(&self) -> FailurePolicy {
        FailurePolicy::Pass
    }
    fn is_blocking(&self, _items: usize) -> bool {
        self.blocking
    }
    fn process(&mut self, batch: &mut Batch) -> Result<(), StageError> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((self.name, batch.item_count()));
        }
        if let Batch::Logs(req) = batch {
            req.resource_logs[0].scope_logs[0].log_records.pop();
        }
        Ok(())
    }
}

/// Consecutive function stages, blocking and not, run in order on what the previous one left
/// (they now share one blocking section, which this does not observe: it guards the order);
/// the first that leaves nothing ends the batch (later stages are not called and nothing is
/// exported).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_stages_run_in_order_until_nothing_is_left() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let trim = |name, blocking| -> Step {
        Step::Function(Box::new(Trim {
            name,
            blocking,
            seen: seen.clone(),
        }))
    };
    let t = Telemetry::new();
    let (qtx, qrx) = batch_queue(10, Default::default());
    let (p, input) = Pipeline::new(
        settings(0, 10),
        vec![
            trim("a", true),
            trim("b", false),
            trim("c", true),
            trim("d", true),
        ],
        vec![qtx],
        &t,
        CancellationToken::new(),
    );
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    fan.consume(logs(5)).expect("room");
    // Bounded: a pipeline that lost the batch would leave this waiting for ever.
    let first = tokio::time::timeout(Duration::from_secs(10), qrx.recv()).await;
    assert_eq!(first.ok().flatten().map(|b| b.item_count()), Some(1));
    fan.consume(logs(3)).expect("room");
    drop(fan);
    task.await.expect("ends");
    assert!(
        qrx.recv().await.is_none(),
        "an emptied batch is not exported"
    );
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        seen,
        [
            ("a", 5),
            ("b", 4),
            ("c", 3),
            ("d", 2),
            ("a", 3),
            ("b", 2),
            ("c", 1)
        ]
    );
}

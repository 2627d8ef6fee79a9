//! A tail sampler inside a running pipeline, on a paused tokio clock.

use weir_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weir_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use weir_tail_sampling::{
    Decision, Evaluate, Policy, PolicyError, Sampler, SamplerSettings, Verdict,
};

use super::*;

/// Keeps traces whose first trace-id byte is odd.
struct Odd;
impl Evaluate for Odd {
    fn evaluate(&mut self, trace: &mut Batch) -> Result<Verdict, PolicyError> {
        let Batch::Traces(r) = trace else {
            return Ok(Verdict {
                decision: Decision::NoOpinion,
                reason: String::new(),
            });
        };
        let odd = r.resource_spans[0].scope_spans[0].spans[0].trace_id[0] % 2 == 1;
        Ok(Verdict {
            decision: if odd { Decision::Keep } else { Decision::Drop },
            reason: String::new(),
        })
    }
}

fn traces(ids: &[u8]) -> Batch {
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: ids
                    .iter()
                    .map(|t| Span {
                        trace_id: vec![*t; 16],
                        span_id: vec![1; 8],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn pipeline_with(
    t: &Telemetry,
    settings: SamplerSettings,
    queue: usize,
) -> (Pipeline, crate::PipelineInput, weir_core::QueueReceiver) {
    pipeline_acking(t, settings, queue, false)
}

fn pipeline_acking(
    t: &Telemetry,
    settings: SamplerSettings,
    queue: usize,
    ack_processed: bool,
) -> (Pipeline, crate::PipelineInput, weir_core::QueueReceiver) {
    let (qtx, qrx) = batch_queue(100, Default::default());
    let ps = PipelineSettings {
        id: "traces".into(),
        signal: Signal::Traces,
        queue_size: queue,
        send_batch_size: 0,
        batch_timeout: Duration::from_millis(200),
        ack_processed,
    };
    let policy = Policy::leaf("odd", Box::new(Odd), Decision::NoOpinion);
    let sampler = Sampler::new("tail", settings, vec![policy], t.sampler("tail", "traces"));
    let steps = vec![Step::Task(Box::new(sampler))];
    let (p, input) = Pipeline::new(ps, steps, vec![qtx], t, CancellationToken::new());
    (p, input, qrx)
}

#[tokio::test(start_paused = true)]
async fn kept_traces_leave_after_decision_wait() {
    let t = Telemetry::new();
    let settings = SamplerSettings {
        decision_wait: Duration::from_secs(10),
        ..Default::default()
    };
    let (p, input, qrx) = pipeline_with(&t, settings, 10);
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    let start = Instant::now();
    fan.consume(traces(&[1, 2, 3])).expect("room");
    let out = qrx.recv().await.expect("kept traces");
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(out.item_count(), 2, "traces 1 and 3 are kept, 2 dropped");
    // A late span of trace 1 follows the decision at once; one of trace 2 is dropped.
    fan.consume(traces(&[1, 2])).expect("room");
    let late = qrx.recv().await.expect("late span");
    assert_eq!(late.item_count(), 1);
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    drop(fan);
    task.await.expect("ends");
}

#[tokio::test(start_paused = true)]
async fn shutdown_decides_what_the_sampler_holds() {
    let t = Telemetry::new();
    let (p, input, qrx) = pipeline_with(&t, SamplerSettings::default(), 10);
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    fan.consume(traces(&[1, 2, 5])).expect("room");
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The receivers go away long before the 30 s wait: the pipeline decides at once and ends.
    let start = Instant::now();
    drop(fan);
    task.await.expect("ends");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(qrx.recv().await.map(|b| b.item_count()), Some(2));
}

#[tokio::test(start_paused = true)]
async fn a_full_sampler_with_block_on_overflow_refuses_upstream() {
    let t = Telemetry::new();
    let settings = SamplerSettings {
        max_traces: 2,
        block_on_overflow: true,
        decision_wait: Duration::from_secs(5),
        ..Default::default()
    };
    let (p, input, qrx) = pipeline_with(&t, settings, 1);
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    fan.consume(traces(&[1, 3])).expect("room");
    tokio::time::sleep(Duration::from_millis(10)).await;
    // The sampler is full: one request waits in the input queue, the next is refused.
    fan.consume(traces(&[5])).expect("room in the input queue");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let err = fan.consume(traces(&[7])).expect_err("input queue full");
    assert!(matches!(err, ConsumeError::Full { .. }), "{err:?}");
    // At 5 s the two traces are decided; the waiting request goes in and is decided 5 s later.
    assert_eq!(qrx.recv().await.map(|b| b.item_count()), Some(2));
    fan.consume(traces(&[9])).expect("room again");
    assert_eq!(qrx.recv().await.map(|b| b.item_count()), Some(2));
    drop(fan);
    task.await.expect("ends");
}

#[tokio::test(start_paused = true)]
async fn with_acks_a_full_sampler_refuses_waiting_requests_instead_of_holding_them() {
    let t = Telemetry::new();
    let settings = SamplerSettings {
        max_traces: 2,
        block_on_overflow: true,
        decision_wait: Duration::from_secs(5),
        ..Default::default()
    };
    let (p, input, qrx) = pipeline_acking(&t, settings, 4, true);
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    // Buffered in the sampler: answered at once.
    assert_eq!(
        fan.consume(traces(&[1, 3])).expect("room").wait().await,
        Ok(())
    );
    // The sampler is full: a request waiting in the input queue is refused within a recheck,
    // not held until the sampler has room again.
    let start = Instant::now();
    let waiting = fan.consume(traces(&[5])).expect("room in the input queue");
    let answer = tokio::time::timeout(Duration::from_secs(60), waiting.wait())
        .await
        .expect("the waiting client is answered");
    assert!(
        matches!(answer, Err(ConsumeError::Full { .. })),
        "{answer:?}"
    );
    assert!(
        start.elapsed() <= RECHECK,
        "refused after {:?}",
        start.elapsed()
    );
    // At 5 s the two traces are decided; then requests are taken again.
    assert_eq!(qrx.recv().await.map(|b| b.item_count()), Some(2));
    assert_eq!(
        fan.consume(traces(&[9])).expect("room").wait().await,
        Ok(())
    );
    drop(fan);
    task.await.expect("ends");
}

#[tokio::test(start_paused = true)]
async fn a_full_blocking_sampler_still_drains_at_shutdown() {
    let t = Telemetry::new();
    let settings = SamplerSettings {
        max_traces: 1,
        block_on_overflow: true,
        decision_wait: Duration::from_secs(30),
        ..Default::default()
    };
    let (p, input, qrx) = pipeline_with(&t, settings, 4);
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    fan.consume(traces(&[1])).expect("room");
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Full: these wait in the input queue, acknowledged.
    fan.consume(traces(&[3])).expect("queued");
    fan.consume(traces(&[5])).expect("queued");
    let start = Instant::now();
    drop(fan);
    task.await.expect("ends");
    // It did not wait for the 30 s decision: everything acknowledged was decided and kept.
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let mut kept = 0;
    while let Some(b) = qrx.recv().await {
        kept += b.item_count();
    }
    assert_eq!(kept, 3);
}

#[tokio::test(start_paused = true)]
async fn traces_due_within_a_tick_leave_as_one_batch() {
    let t = Telemetry::new();
    let settings = SamplerSettings {
        decision_wait: Duration::from_secs(1),
        ..Default::default()
    };
    let (p, input, qrx) = pipeline_with(&t, settings, 10);
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    let start = Instant::now();
    for id in [1, 3, 5] {
        fan.consume(traces(&[id])).expect("room");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Trace 1 is due at 1.00 s, traces 3 and 5 at 1.01 s and 1.02 s: those two leave together
    // at the end of the tick.
    assert_eq!(qrx.recv().await.map(|b| b.item_count()), Some(1));
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(qrx.recv().await.map(|b| b.item_count()), Some(2));
    assert_eq!(start.elapsed(), Duration::from_millis(1100));
    drop(fan);
    task.await.expect("ends");
}

#[tokio::test(start_paused = true)]
async fn with_acks_decided_traces_waiting_for_room_do_not_hold_waiting_clients() {
    let t = Telemetry::new();
    // An exporter queue of one that nobody drains.
    let (qtx, _qrx) = batch_queue(1, Default::default());
    let ps = PipelineSettings {
        id: "traces".into(),
        signal: Signal::Traces,
        queue_size: 10,
        send_batch_size: 0,
        batch_timeout: Duration::from_millis(200),
        ack_processed: true,
    };
    let policy = Policy::leaf("odd", Box::new(Odd), Decision::NoOpinion);
    let settings = SamplerSettings {
        decision_wait: Duration::from_secs(1),
        ..Default::default()
    };
    let sampler = Sampler::new("tail", settings, vec![policy], t.sampler("tail", "traces"));
    let steps = vec![Step::Task(Box::new(sampler))];
    let (p, input) = Pipeline::new(ps, steps, vec![qtx], &t, CancellationToken::new());
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    // The first kept trace fills the exporter queue; the second one's decision then waits for
    // room that never comes.
    for id in [1, 3] {
        assert_eq!(
            fan.consume(traces(&[id])).expect("room").wait().await,
            Ok(())
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let start = Instant::now();
    let waiting = fan.consume(traces(&[5])).expect("room in the input queue");
    // Bounded: without the refusal the client would wait forever.
    let answer = tokio::time::timeout(Duration::from_secs(60), waiting.wait())
        .await
        .expect("the waiting client is answered");
    assert!(
        matches!(answer, Err(ConsumeError::Full { .. })),
        "{answer:?}"
    );
    assert!(
        start.elapsed() <= ROOM_WAIT,
        "refused after {:?}",
        start.elapsed()
    );
    drop(fan);
    task.abort();
}

/// Keeps traces whose first trace-id byte is below a bound.
struct Below(u8);
impl Evaluate for Below {
    fn evaluate(&mut self, trace: &mut Batch) -> Result<Verdict, PolicyError> {
        let Batch::Traces(r) = trace else {
            unreachable!("a traces pipeline")
        };
        let below = r.resource_spans[0].scope_spans[0].spans[0].trace_id[0] < self.0;
        Ok(Verdict {
            decision: if below {
                Decision::Keep
            } else {
                Decision::Drop
            },
            reason: String::new(),
        })
    }
}

fn sampler(t: &Telemetry, name: &str, wait: u64, eval: Box<dyn Evaluate>) -> Box<Sampler> {
    let settings = SamplerSettings {
        decision_wait: Duration::from_secs(wait),
        ..Default::default()
    };
    let policy = Policy::leaf(name, eval, Decision::NoOpinion);
    Box::new(Sampler::new(
        name,
        settings,
        vec![policy],
        t.sampler(name, "traces"),
    ))
}

/// Trace-id first bytes in a batch, sorted.
fn ids(b: &Batch) -> Vec<u8> {
    let Batch::Traces(r) = b else {
        return Vec::new();
    };
    let mut ids: Vec<u8> = r
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.trace_id[0])
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(start_paused = true)]
async fn two_samplers_in_a_row_each_decide_after_their_own_wait() {
    let t = Telemetry::new();
    let (qtx, qrx) = batch_queue(100, Default::default());
    let ps = PipelineSettings {
        id: "traces".into(),
        signal: Signal::Traces,
        queue_size: 10,
        send_batch_size: 0,
        batch_timeout: Duration::from_millis(200),
        ack_processed: false,
    };
    // First keep odd ids (after 1 s), then of those keep ids below 5 (after 2 s more).
    let steps = vec![
        Step::Task(sampler(&t, "odd", 1, Box::new(Odd))),
        Step::Task(sampler(&t, "small", 2, Box::new(Below(5)))),
    ];
    let (p, input) = Pipeline::new(ps, steps, vec![qtx], &t, CancellationToken::new());
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    let _ = fan.consume(traces(&[1, 2, 3, 4, 7, 8])).expect("room");
    let start = Instant::now();
    let out = qrx.recv().await.expect("kept traces");
    // Kept by both, and only after the second sampler's wait.
    assert_eq!(ids(&out.batch), vec![1, 3]);
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    drop(fan);
    task.await.expect("ends");
    assert!(qrx.recv().await.is_none(), "nothing else was kept");
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_one_sampler_finishes_a_removed_one_and_adds_a_new_one() {
    let t = Telemetry::new();
    let (qtx, qrx) = batch_queue(100, Default::default());
    let ps = PipelineSettings {
        id: "traces".into(),
        signal: Signal::Traces,
        queue_size: 10,
        send_batch_size: 0,
        batch_timeout: Duration::from_millis(200),
        ack_processed: false,
    };
    let steps = vec![
        Step::Task(sampler(&t, "odd", 10, Box::new(Odd))),
        Step::Task(sampler(&t, "small", 10, Box::new(Below(5)))),
    ];
    let (mut p, input) = Pipeline::new(ps, steps, vec![qtx], &t, CancellationToken::new());
    let control = p.control();
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    let _ = fan.consume(traces(&[1, 2, 3, 7])).expect("room");
    tokio::time::sleep(Duration::from_secs(1)).await;

    // `odd` goes: it decides what it holds now (keeps 1, 3, 7) and hands that to `small`.
    // `small` takes new policies (keep below 3) and keeps its buffer; `late` is new; the
    // exporter changes.
    let (q2, r2) = batch_queue(100, Default::default());
    let change = Reconfigure {
        stages: vec![
            StageUpdate::New(Step::Task(sampler(&t, "small", 1, Box::new(Below(3))))),
            StageUpdate::New(Step::Task(sampler(&t, "late", 1, Box::new(Below(100))))),
        ],
        exporters: vec![q2],
        send_batch_size: 0,
        batch_timeout: Duration::from_millis(200),
    };
    let _ = control.send(change).expect("running").await;
    let start = Instant::now();
    let out = r2.recv().await.expect("kept traces");
    assert_eq!(ids(&out.batch), vec![1]);
    // `small` decided at the due time its traces had (10 s after they reached it), then
    // `late` held them for its 1 s.
    assert!(
        start.elapsed() >= Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    drop(fan);
    task.await.expect("ends");
    assert!(r2.recv().await.is_none(), "nothing else was kept");
    assert!(qrx.recv().await.is_none(), "the old exporter got nothing");
}

//! `ack = "processed"`: a request is answered only after its items passed the processors and
//! reached every exporter queue; a `refuse` processor's failure reaches the client.

use super::*;

/// A pipeline that acknowledges after processing, and the fan-out receivers hand it requests
/// through.
fn acking(
    t: &Telemetry,
    settings: PipelineSettings,
    stages: Vec<Box<dyn Stage>>,
    exporters: Vec<weir_core::QueueSender>,
) -> (Pipeline, Fanout) {
    let steps = stages.into_iter().map(Step::from).collect();
    let (p, input) = Pipeline::new(settings, steps, exporters, t, CancellationToken::new());
    (
        p,
        Fanout::new(vec![input], Arc::new(AtomicBool::new(false))),
    )
}

fn processed(batch: usize, queue: usize) -> PipelineSettings {
    PipelineSettings {
        ack_processed: true,
        ..settings(batch, queue)
    }
}

/// Whether `receipt` has resolved, without waiting (one poll).
fn resolved(
    receipt: &mut std::pin::Pin<Box<impl std::future::Future<Output = Outcome>>>,
) -> Option<Outcome> {
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    match receipt.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(o) => Some(o),
        std::task::Poll::Pending => None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_is_answered_once_it_sits_in_every_exporter_queue() {
    let t = Telemetry::new();
    // Exporter `b` has room for one batch and nobody drains it yet.
    let (qa, ra) = batch_queue(10, Default::default());
    let (qb, rb) = batch_queue(1, Default::default());
    let (p, fan) = acking(&t, processed(100, 10), vec![], vec![qa, qb]);
    let task = tokio::spawn(p.run());
    fan.consume(logs(1))
        .expect("room")
        .wait()
        .await
        .expect("first request processed");
    let mut second = Box::pin(fan.consume(logs(2)).expect("room").wait());
    tokio::time::sleep(ROOM_WAIT / 2).await;
    assert!(
        resolved(&mut second).is_none(),
        "b's queue is full: the second request must not be acknowledged yet"
    );
    assert_eq!(rb.recv().await.map(|b| b.item_count()), Some(1));
    assert_eq!(second.await, Ok(()), "room in b: answered");
    assert_eq!(ra.recv().await.map(|b| b.item_count()), Some(1));
    assert_eq!(ra.recv().await.map(|b| b.item_count()), Some(2));
    assert_eq!(rb.recv().await.map(|b| b.item_count()), Some(2));
    drop(fan);
    task.await.expect("ends");
}

#[tokio::test(start_paused = true)]
async fn no_exporter_room_in_time_refuses_as_overloaded() {
    let t = Telemetry::new();
    // An exporter queue of one that nobody drains.
    let (qtx, qrx) = batch_queue(1, Default::default());
    let (p, fan) = acking(&t, processed(0, 10), vec![], vec![qtx]);
    let task = tokio::spawn(p.run());
    assert_eq!(fan.consume(logs(1)).expect("room").wait().await, Ok(()));
    let start = Instant::now();
    let second = fan.consume(logs(2)).expect("room").wait().await;
    assert_eq!(
        second,
        Err(ConsumeError::Full {
            pipeline: "logs".into(),
            retry_after: Duration::from_secs(1)
        })
    );
    assert_eq!(
        start.elapsed(),
        ROOM_WAIT,
        "refused once its wait for room ran out"
    );
    // The pipeline moves on: once there is room, the next request goes through.
    assert_eq!(qrx.recv().await.map(|b| b.item_count()), Some(1));
    assert_eq!(fan.consume(logs(3)).expect("room").wait().await, Ok(()));
    assert_eq!(qrx.recv().await.map(|b| b.item_count()), Some(3));
    drop(fan);
    task.await.expect("ends");
    let want = "weir_pipeline_dropped_items_total{pipeline=\"logs\",signal=\"logs\",reason=\"shutdown\"} 0";
    assert!(t.render().contains(want), "{}", t.render());
}

#[tokio::test(start_paused = true)]
async fn a_lone_request_does_not_wait_for_the_batch_timeout() {
    let t = Telemetry::new();
    let (qtx, qrx) = batch_queue(10, Default::default());
    let (p, fan) = acking(&t, processed(8192, 10), vec![], vec![qtx]);
    let task = tokio::spawn(p.run());
    let start = Instant::now();
    fan.consume(logs(3))
        .expect("room")
        .wait()
        .await
        .expect("processed");
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no batch timeout with waiting clients"
    );
    assert_eq!(qrx.recv().await.map(|b| b.item_count()), Some(3));
    drop(fan);
    task.await.expect("ends");
}

#[tokio::test(start_paused = true)]
async fn requests_waiting_together_are_processed_as_one_batch() {
    let t = Telemetry::new();
    let (qtx, qrx) = batch_queue(10, Default::default());
    let (p, fan) = acking(&t, processed(8192, 10), vec![], vec![qtx]);
    // Queued before the pipeline runs: it finds three requests waiting and takes them at once.
    let receipts: Vec<_> = (1..=3)
        .map(|n| fan.consume(logs(n)).expect("room"))
        .collect();
    let held = |t: &Telemetry| {
        let text = t.render();
        let line = text
            .lines()
            .find(|l| l.starts_with("weir_memory_held_bytes{component=\"pipeline/logs\"}"))
            .map(str::to_string);
        line.and_then(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
    };
    let queued = held(&t).expect("the pipeline's held bytes are exported");
    assert!(queued > 0, "requests in the input queue are held: {queued}");
    let task = tokio::spawn(p.run());
    for r in receipts {
        assert_eq!(r.wait().await, Ok(()));
    }
    assert_eq!(held(&t), Some(0), "handed to the exporter: no longer held");
    let b = qrx.recv().await.expect("batch");
    assert_eq!((b.item_count(), b.resource_count()), (6, 3));
    drop(fan);
    task.await.expect("ends");
}

#[tokio::test(start_paused = true)]
async fn a_failing_refuse_processor_refuses_every_request_of_its_batch() {
    let t = Telemetry::new();
    let (qtx, qrx) = batch_queue(10, Default::default());
    let (p, fan) = acking(
        &t,
        processed(8192, 10),
        vec![Box::new(Failing(FailurePolicy::Refuse))],
        vec![qtx],
    );
    let receipts: Vec<_> = [2, 3].map(|n| fan.consume(logs(n)).expect("room")).into();
    let task = tokio::spawn(p.run());
    for r in receipts {
        match r.wait().await {
            Err(ConsumeError::Refused {
                pipeline,
                stage,
                message,
                retry_after,
            }) => {
                assert_eq!(
                    (pipeline.as_str(), stage.as_str(), message.as_str()),
                    ("logs", "failing", "boom")
                );
                assert_eq!(retry_after, Duration::from_secs(1));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    drop(fan);
    task.await.expect("ends");
    assert!(qrx.recv().await.is_none(), "nothing reached the exporter");
    // Refused, not dropped: the clients still have the data.
    let want = "weir_processor_dropped_items_total{pipeline=\"logs\",processor=\"failing\",signal=\"logs\"} 0";
    assert!(t.render().contains(want), "{}", t.render());
}

#[tokio::test(start_paused = true)]
async fn pass_and_drop_still_answer_ok() {
    for (policy, delivered) in [(FailurePolicy::Pass, true), (FailurePolicy::Drop, false)] {
        let t = Telemetry::new();
        let (qtx, qrx) = batch_queue(10, Default::default());
        let (p, fan) = acking(
            &t,
            processed(0, 10),
            vec![Box::new(Failing(policy))],
            vec![qtx],
        );
        let task = tokio::spawn(p.run());
        assert_eq!(
            fan.consume(logs(3)).expect("room").wait().await,
            Ok(()),
            "{policy:?}"
        );
        drop(fan);
        task.await.expect("ends");
        assert_eq!(qrx.recv().await.is_some(), delivered, "{policy:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn at_the_shutdown_deadline_waiting_requests_are_refused_not_lost() {
    let t = Telemetry::new();
    let abandon = CancellationToken::new();
    // An exporter queue of one that nobody drains: the second batch waits for room.
    let (qtx, _qrx) = batch_queue(1, Default::default());
    let (p, input) = Pipeline::new(processed(0, 10), vec![], vec![qtx], &t, abandon.clone());
    let task = tokio::spawn(p.run());
    let fan = Fanout::new(vec![input], Arc::new(AtomicBool::new(false)));
    let first = fan.consume(logs(1)).expect("room");
    assert_eq!(first.wait().await, Ok(()));
    let second = fan.consume(logs(2)).expect("room");
    let third = fan.consume(logs(3)).expect("room");
    tokio::time::sleep(Duration::from_millis(10)).await;
    abandon.cancel();
    task.await.expect("stops at the deadline");
    assert_eq!(second.wait().await, Err(ConsumeError::ShuttingDown));
    assert_eq!(third.wait().await, Err(ConsumeError::ShuttingDown));
    // Nothing acknowledged was dropped: the counter stays at zero.
    let want = "weir_pipeline_dropped_items_total{pipeline=\"logs\",signal=\"logs\",reason=\"shutdown\"} 0";
    assert!(t.render().contains(want), "{}", t.render());
    drop(fan);
}

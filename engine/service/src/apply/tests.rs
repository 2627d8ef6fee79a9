//! Reloads carried out in process, on a paused clock (no `weir` process, no sockets used):
//! data goes in through a receiver's switch, out through file exporters.

use std::path::Path;

use weir_core::otlp::collector::logs::v1::ExportLogsServiceRequest;
use weir_core::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use weir_core::{Batch, Consumer, Signal};

use super::*;

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

/// A logs pipeline from the `otlp` receiver to a file exporter writing `file`; `extra` is
/// added to the file, `processors` to the pipeline.
fn config(dir: &Path, file: &str, extra: &str, processors: &str) -> Config {
    let text = format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"
[exporters.out]
type = "file"
path = "{}"
{extra}
[pipelines.logs]
receivers = ["otlp"]
exporters = ["out"]
processors = [{processors}]
batch = {{ send_batch_size = 0 }}
"#,
        dir.join(file).display()
    );
    Config::parse("weir.toml", &text, &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

/// Sends `n` log records into `live`'s `otlp` receiver and waits for the acknowledgement
/// (the records are in the exporter's queue).
async fn send(live: &Live, n: usize) {
    let switch = live.receivers["otlp"].switches[Signal::Logs.index()]
        .clone()
        .unwrap_or_else(|| panic!("otlp serves logs"));
    let receipt = switch.consume(logs(n)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(receipt.wait().await, Ok(()));
}

/// Log records per line (per request) of a file exporter's output.
fn lines(path: &Path) -> Vec<usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            v["resourceLogs"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|rl| rl["scopeLogs"].as_array().into_iter().flatten())
                .map(|sl| sl["logRecords"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_reload_replaces_an_exporter_and_a_bad_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let telemetry = Telemetry::new();
    let mut live = Live::start(config(dir.path(), "a.jsonl", "", ""), &telemetry)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    send(&live, 1).await;

    // A new exporter path: a new exporter; the pipeline is changed in place.
    let b = Desired::read(config(dir.path(), "b.jsonl", "", ""));
    let applied = live.apply(b).await.unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(applied.changes, ["exporter out", "pipeline logs"]);
    send(&live, 2).await;

    // A processor whose plugin file is missing: refused, naming the file; nothing changes.
    let missing = dir.path().join("missing.wasm");
    let bad = config(
        dir.path(),
        "c.jsonl",
        &format!("[processors.p]\nplugin = \"{}\"\n", missing.display()),
        "\"p\"",
    );
    let err = live
        .apply(Desired::read(bad))
        .await
        .err()
        .unwrap_or_else(|| panic!("a missing plugin file must be refused"));
    assert!(format!("{err:#}").contains("missing.wasm"), "{err:#}");
    let in_force = live.config().unwrap_or_else(|| panic!("a config in force"));
    assert!(
        in_force.processors.is_empty(),
        "the refused config is not in force"
    );
    send(&live, 3).await;

    // The same config again: nothing to do.
    let same = Desired::read(config(dir.path(), "b.jsonl", "", ""));
    assert!(
        live.apply(same)
            .await
            .map(|a| a.changes.is_empty())
            .unwrap_or(false)
    );

    // Shutdown drains both exporters: the old one wrote what it held before the reload.
    shut_down(live).await;
    assert_eq!(lines(&dir.path().join("a.jsonl")), [1]);
    assert_eq!(lines(&dir.path().join("b.jsonl")), [2, 3]);
    assert!(
        !dir.path().join("c.jsonl").exists(),
        "the refused exporter never started"
    );
}

/// A logs pipeline into exporter `out` described by `exporter` (its table's keys), with a
/// disk queue in `dir/queue`.
fn disk_config(dir: &Path, exporter: &str) -> Config {
    let text = format!(
        r#"
[receivers.otlp]
http = "127.0.0.1:0"
[exporters.out]
{exporter}
sending_queue = {{ storage = "disk", dir = "{}" }}
[pipelines.logs]
receivers = ["otlp"]
exporters = ["out"]
batch = {{ send_batch_size = 0 }}
"#,
        dir.join("queue").display()
    );
    Config::parse("weir.toml", &text, &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

/// Stops `live` and waits for every task (exporters deliver what their queues hold).
async fn shut_down(live: Live) {
    let stopping = live.stop();
    stopping
        .closing
        .store(true, std::sync::atomic::Ordering::Release);
    stopping.stop_receivers.cancel();
    for task in stopping
        .tasks
        .receivers
        .into_iter()
        .chain(stopping.tasks.pipelines)
        .chain(stopping.tasks.exporters)
    {
        task.await.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_changed_exporter_takes_over_its_disk_queue_with_the_batches_the_old_one_held() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let telemetry = Telemetry::new();
    // Nothing listens on port 1: every attempt fails, and the senders hold the batches
    // parked for their retries.
    let unreachable = r#"type = "otlp-http"
endpoint = "http://127.0.0.1:1"
retry_on_failure = { initial_interval = "1s", max_interval = "1s", max_elapsed_time = "100000h" }"#;
    let mut live = Live::start(disk_config(dir.path(), unreachable), &telemetry)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    for n in 1..=3 {
        send(&live, n).await;
    }
    // Every batch was tried and failed: the senders hold them all.
    let failed = telemetry.exporter("out", Signal::Logs).failed;
    for _ in 0..1000 {
        if failed.get() >= 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(failed.get() >= 6, "{} items failed", failed.get());

    // The exporter becomes a file exporter on the same queue directory: the reload works
    // (the directory is locked by the running queue) and the new senders get every batch.
    let out = dir.path().join("out.jsonl");
    let file = format!("type = \"file\"\npath = \"{}\"", out.display());
    let applied = live
        .apply(Desired::read(disk_config(dir.path(), &file)))
        .await
        .unwrap_or_else(|e| panic!("a changed exporter keeps its disk queue: {e:#}"));
    assert_eq!(applied.changes, ["exporter out", "pipeline logs"]);
    send(&live, 4).await;
    shut_down(live).await;

    let mut got = lines(&out);
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3, 4], "each acknowledged batch delivered once");
    let (spool, _) = weir_spool::Spool::open(
        &dir.path().join("queue"),
        weir_spool::SpoolOptions::new(1 << 30, weir_spool::Fsync::Never),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spool.len(), 0, "nothing left to send again after a restart");
}

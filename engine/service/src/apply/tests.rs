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
    assert_eq!(lines(&dir.path().join("a.jsonl")), [1]);
    assert_eq!(lines(&dir.path().join("b.jsonl")), [2, 3]);
    assert!(
        !dir.path().join("c.jsonl").exists(),
        "the refused exporter never started"
    );
}

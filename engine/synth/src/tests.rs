//! The generator's promises: exact counts, determinism, valid and consistent OTLP, realism
//! (every metric type, client/server pairs, errors) and planted secrets that are really there.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::{Generator, SecretKind, Shape};

fn spans(g: &mut Generator, n: usize) -> Vec<Span> {
    g.traces(n)
        .resource_spans
        .into_iter()
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect()
}

#[test]
fn counts_are_exact() {
    let mut g = Generator::new(1);
    for n in [0, 1, 2, 7, 100, 1000] {
        assert_eq!(spans(&mut g, n).len(), n, "spans");
        let m = g.metrics(n);
        let points: usize = m
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| match m.data.as_ref().unwrap() {
                Data::Gauge(g) => g.data_points.len(),
                Data::Sum(s) => s.data_points.len(),
                Data::Histogram(h) => h.data_points.len(),
                Data::ExponentialHistogram(e) => e.data_points.len(),
                Data::Summary(s) => s.data_points.len(),
            })
            .sum();
        assert_eq!(points, n, "data points");
        let l = g.logs(n);
        let records: usize = l
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        assert_eq!(records, n, "log records");
    }
}

#[test]
fn a_seed_is_a_workload() {
    let a = (Generator::new(9).traces(300), Generator::new(9).logs(50));
    let b = (Generator::new(9).traces(300), Generator::new(9).logs(50));
    assert_eq!(a, b);
    assert_ne!(a.0, Generator::new(10).traces(300));
}

#[test]
fn traces_are_trees_of_valid_spans() {
    let all = spans(&mut Generator::new(3), 2000);
    let ids: HashSet<&[u8]> = all.iter().map(|s| s.span_id.as_slice()).collect();
    assert_eq!(ids.len(), all.len(), "span ids are unique");
    let by_id: HashMap<&[u8], &Span> = all.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    let mut roots = 0;
    let mut kinds = HashSet::new();
    for s in &all {
        assert_eq!(s.trace_id.len(), 16);
        assert!(s.trace_id.iter().any(|b| *b != 0));
        assert_eq!(s.span_id.len(), 8);
        assert!(s.end_time_unix_nano > s.start_time_unix_nano, "{}", s.name);
        kinds.insert(s.kind);
        if s.parent_span_id.is_empty() {
            roots += 1;
            continue;
        }
        let parent = by_id[s.parent_span_id.as_slice()];
        assert_eq!(parent.trace_id, s.trace_id);
        assert!(parent.start_time_unix_nano <= s.start_time_unix_nano);
        assert!(
            parent.end_time_unix_nano >= s.end_time_unix_nano,
            "{}",
            s.name
        );
    }
    assert!(roots > 50 && roots < 1000, "{roots} traces");
    assert_eq!(
        kinds.len(),
        4,
        "internal, server, client and producer: {kinds:?}"
    );
    let errors = all
        .iter()
        .filter(|s| s.status.as_ref().is_some_and(|st| st.code == 2));
    assert!(errors.count() > 10);
}

#[test]
fn every_metric_type_appears() {
    let m = Generator::new(4).metrics(60);
    let mut types = HashSet::new();
    for metric in m
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        types.insert(std::mem::discriminant(metric.data.as_ref().unwrap()));
    }
    assert_eq!(types.len(), 5);
}

#[test]
fn extra_attributes_pad_every_item() {
    let shape = Shape {
        extra_attributes: 3,
        ..Shape::default()
    };
    let all = spans(&mut Generator::new(5).with_shape(shape), 50);
    assert!(all.iter().all(|s| {
        s.attributes
            .iter()
            .filter(|a| a.key.starts_with("attr."))
            .count()
            == 3
    }));
}

#[test]
fn planted_secrets_are_in_the_telemetry_and_change_nothing_else() {
    let mut g = Generator::new(6).plant_secrets(0.2);
    let bytes = [
        g.traces(500).encode_to_vec(),
        g.metrics(200).encode_to_vec(),
        g.logs(200).encode_to_vec(),
    ]
    .concat();
    let planted = g.planted();
    assert!(planted.len() > 100, "{} planted", planted.len());
    let kinds: HashSet<_> = planted.iter().map(|p| p.kind).collect();
    assert_eq!(kinds.len(), 8, "{kinds:?}");
    let places: HashSet<_> = planted.iter().map(|p| p.location.as_str()).collect();
    assert!(places.len() > 40, "{places:?}");
    for p in planted {
        let found = if p.kind == SecretKind::CardInteger {
            let mut varint = vec![0x18];
            prost::encoding::encode_varint(p.value.parse::<u64>().unwrap(), &mut varint);
            contains(&bytes, &varint)
        } else {
            contains(&bytes, p.value.as_bytes())
        };
        assert!(found, "{p:?} is not in the telemetry");
    }
    // Without secrets, the same seed gives the same spans apart from what was planted.
    let plain = Generator::new(6).traces(500);
    let mut planted = Generator::new(6).plant_secrets(0.2).traces(500);
    assert_eq!(plain.resource_spans.len(), planted.resource_spans.len());
    let count =
        |r: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest| {
            r.resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>()
        };
    assert_eq!(count(&plain), count(&std::mem::take(&mut planted)));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

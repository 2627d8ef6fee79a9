"""Emits traces, metrics and logs with the real OpenTelemetry Python SDK to one OTLP endpoint.

Usage: emit.py --protocol grpc|http --endpoint URL --run-id ID --spans N --logs N

TLS, client certificates and headers come from the SDK's standard environment variables
(OTEL_EXPORTER_OTLP_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_KEY, OTEL_EXPORTER_OTLP_HEADERS …).

Prints one JSON object on stdout describing exactly what was emitted, so the test can check
that every item arrived once, with ids, attributes, resource and scope intact.
"""

import argparse
import json
import logging
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.trace import Link, SpanKind, StatusCode


def exporters(protocol, endpoint):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        kw = dict(endpoint=endpoint, timeout=10)
        # Plaintext unless the endpoint is https://; then TLS with what the standard
        # OTEL_EXPORTER_OTLP_CERTIFICATE / _CLIENT_KEY / _CLIENT_CERTIFICATE variables name.
        if not endpoint.startswith("https://"):
            kw["insecure"] = True
        return OTLPSpanExporter(**kw), OTLPMetricExporter(**kw), OTLPLogExporter(**kw)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    base = endpoint.rstrip("/")
    return (
        OTLPSpanExporter(endpoint=base + "/v1/traces", timeout=10),
        OTLPMetricExporter(endpoint=base + "/v1/metrics", timeout=10),
        OTLPLogExporter(endpoint=base + "/v1/logs", timeout=10),
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--protocol", choices=["grpc", "http"], required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--spans", type=int, default=20)
    p.add_argument("--logs", type=int, default=10)
    a = p.parse_args()

    resource = Resource.create({"service.name": "weir-e2e", "run.id": a.run_id})
    span_exp, metric_exp, log_exp = exporters(a.protocol, a.endpoint)

    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(span_exp, max_export_batch_size=7))
    tracer = tp.get_tracer("weir.e2e.tracer", "1.2.3")

    spans = []
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/checkout")
        spans.append(root)
        for i in range(a.spans - 1):
            with tracer.start_as_current_span(
                f"child-{i}",
                kind=SpanKind.CLIENT,
                links=[Link(root.get_span_context(), {"link.i": i})],
            ) as s:
                s.set_attribute("i", i)
                s.set_attribute("ratio", i / 4)
                s.set_attribute("ok", i % 2 == 0)
                s.set_attribute("tags", ["a", "b", str(i)])
                s.add_event("step", {"n": i})
                if i % 5 == 0:
                    s.set_status(StatusCode.ERROR, "boom")
                spans.append(s)

    mp = MeterProvider(
        resource=resource,
        metric_readers=[PeriodicExportingMetricReader(metric_exp, export_interval_millis=3_600_000)],
    )
    meter = mp.get_meter("weir.e2e.meter", "1.2.3")
    counter = meter.create_counter("e2e.requests", unit="1")
    hist = meter.create_histogram("e2e.latency", unit="ms")
    for route in ("/a", "/b", "/c"):
        counter.add(3, {"route": route})
        hist.record(12.5, {"route": route})

    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(log_exp, max_export_batch_size=4))
    logger = logging.getLogger("weir.e2e.logger")
    logger.propagate = False
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=lp))
    logger.setLevel(logging.INFO)
    with tracer.start_as_current_span("log-parent") as lparent:
        spans.append(lparent)
        for i in range(a.logs):
            logger.warning("log line %d", i, extra={"log.i": i})

    ok = tp.force_flush(30_000) and lp.force_flush(30_000)
    tp.shutdown()
    lp.shutdown()
    # Metrics are exported once, by the reader's final collection at shutdown: with cumulative
    # temporality a force_flush before it would send every data point twice.
    mp.shutdown()

    out = {
        "ok": bool(ok),
        "spans": [
            {
                "trace_id": format(s.get_span_context().trace_id, "032x"),
                "span_id": format(s.get_span_context().span_id, "016x"),
                "name": s.name,
                "attributes": {k: v if not isinstance(v, tuple) else list(v) for k, v in s.attributes.items()},
                "events": len(s.events),
                "links": len(s.links),
            }
            for s in spans
        ],
        "metrics": {"e2e.requests": 3, "e2e.latency": 3},
        "logs": [f"log line {i}" for i in range(a.logs)],
        "log_trace_id": format(lparent.get_span_context().trace_id, "032x"),
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

"""Emits traces that cross several services with the real OpenTelemetry Python SDK.

Usage: emit_services.py --endpoint URL --traces N

Each trace starts in `frontend` and calls one or two of `cart`, `search`, `checkout` (one
TracerProvider per service, so each span carries its own service's resource); some calls fail.
Prints JSON: {"ok": bool, "traces": [{"trace_id": hex, "services": [...], "spans": n,
"error": bool}]} so a test knows exactly which traces touched which service.
"""

import argparse
import json
import random

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

SERVICES = ["frontend", "cart", "search", "checkout"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--traces", type=int, default=40)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    rng = random.Random(a.seed)

    providers = {}
    for name in SERVICES:
        tp = TracerProvider(resource=Resource.create({"service.name": name}))
        exporter = OTLPSpanExporter(endpoint=a.endpoint, insecure=True, timeout=10)
        tp.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=16))
        providers[name] = tp
    tracers = {n: tp.get_tracer("weir.e2e.services") for n, tp in providers.items()}

    out = []
    for _ in range(a.traces):
        callees = rng.sample(SERVICES[1:], rng.randint(1, 2))
        error = rng.random() < 0.2
        with tracers["frontend"].start_as_current_span("GET /", kind=SpanKind.SERVER) as root:
            trace_id = format(root.get_span_context().trace_id, "032x")
            for callee in callees:
                ctx = trace.set_span_in_context(root)
                with tracers[callee].start_as_current_span(
                    f"{callee}.handle", context=ctx, kind=SpanKind.SERVER
                ) as child:
                    if error:
                        child.set_status(Status(StatusCode.ERROR, "boom"))
        out.append(
            {
                "trace_id": trace_id,
                "services": ["frontend"] + callees,
                "spans": 1 + len(callees),
                "error": error,
            }
        )

    ok = all(tp.force_flush(10_000) for tp in providers.values())
    for tp in providers.values():
        tp.shutdown()
    print(json.dumps({"ok": ok, "traces": out}))


if __name__ == "__main__":
    main()

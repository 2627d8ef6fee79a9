"""Emits traces of signed-in users with the real OpenTelemetry Python SDK, for the example plugins.

Usage: emit_users.py --endpoint URL --traces N

Each trace has a root span (`GET /account`) and a child (`SELECT users`). Roots carry
`user.email` (except every fifth trace) and `customer.tier` cycling through enterprise, free
and pro; every seventh trace's child fails. Prints JSON: {"ok": bool, "traces": [{"trace_id":
hex, "tier": str, "email": bool, "error": bool}]} so a test knows what each plugin should do.
"""

import argparse
import json

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

TIERS = ["enterprise", "free", "pro"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--traces", type=int, default=30)
    a = p.parse_args()

    tp = TracerProvider(resource=Resource.create({"service.name": "accounts"}))
    tp.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=a.endpoint, insecure=True, timeout=10), max_export_batch_size=16))
    tracer = tp.get_tracer("weir.e2e.users")

    out = []
    for i in range(a.traces):
        tier, email, error = TIERS[i % 3], i % 5 != 0, i % 7 == 0
        with tracer.start_as_current_span("GET /account", kind=SpanKind.SERVER) as root:
            root.set_attribute("customer.tier", tier)
            if email:
                root.set_attribute("user.email", f"user{i}@example.com")
            with tracer.start_as_current_span("SELECT users", kind=SpanKind.CLIENT) as child:
                if error:
                    child.set_status(Status(StatusCode.ERROR, "timeout"))
        out.append({"trace_id": format(root.get_span_context().trace_id, "032x"), "tier": tier,
                    "email": email, "error": error})
    ok = tp.force_flush(timeout_millis=15000)
    tp.shutdown()
    print(json.dumps({"ok": ok, "traces": out}))


if __name__ == "__main__":
    main()

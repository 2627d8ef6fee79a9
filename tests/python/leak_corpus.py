"""Plants secrets in every place OTLP data can hide, through the real OpenTelemetry Python SDK,
as a Django/Flask billing service (billing-service-python) would emit them.

Usage: leak_corpus.py --protocol grpc|http --endpoint URL

Prints JSON: {"ok": bool, "secrets": [...], "decoys": [...], "spans": N, "logs": N}. Every string
in "secrets" must be gone from what reaches the exporter; every "decoy" (16-digit order ids that
fail the Luhn check, plain values) must arrive unchanged.
"""

import argparse
import json
import sys

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from emit import exporters

# Luhn-valid test card numbers, written the ways applications write them.
CARD_SPACES = "4111 1111 1111 1111"
CARD_DASHES = "5500-0055-5555-5559"
CARD_PLAIN = "378282246310005"
CARD_INT = 6011111111111117
CARD_INT_2 = 4539578763621486
EMAIL = "ada.lovelace@example.com"
EMAIL_2 = "bob.billing@example.org"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
BEARER = "Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0"
AWS = "AKIAIOSFODNN7EXAMPLE"
SSN = "123-45-6789"
IPV4 = "203.0.113.77"
IPV6 = "2001:db8:85a3::8a2e:370:7334"

SECRETS = [CARD_SPACES, CARD_DASHES, CARD_PLAIN, str(CARD_INT), str(CARD_INT_2), EMAIL, EMAIL_2,
           JWT, BEARER.split()[1], AWS, SSN, IPV4, IPV6]
# Must survive: 16-digit order ids failing Luhn (as a string and as an int), a plain route.
DECOY_ORDER = "4111111111111112"
DECOY_ORDER_INT = 1234567890123456
DECOYS = [DECOY_ORDER, str(DECOY_ORDER_INT), "/api/charge"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--protocol", choices=["grpc", "http"], required=True)
    p.add_argument("--endpoint", required=True)
    a = p.parse_args()

    resource = Resource.create({
        "service.name": "billing-service-python",
        "owner.email": EMAIL_2,
        "host.ip": IPV4,
    })
    span_exp, metric_exp, log_exp = exporters(a.protocol, a.endpoint)

    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(span_exp))
    tracer = tp.get_tracer("billing.views", "2.1.0", attributes={"scope.debug.customer": EMAIL})

    spans = 0
    with tracer.start_as_current_span("other", kind=SpanKind.INTERNAL) as other:
        spans += 1
    with tracer.start_as_current_span(
        f"POST /api/charge for {EMAIL} card {CARD_SPACES}",
        kind=SpanKind.SERVER,
        links=[Link(other.get_span_context(), {"link.customer": EMAIL, "link.card": CARD_DASHES})],
    ) as span:
        spans += 1
        span.set_attribute("http.route", "/api/charge")
        span.set_attribute("payment.card", CARD_DASHES)
        span.set_attribute("payment.card_int", CARD_INT)
        span.set_attribute("payment.amex", f"amex {CARD_PLAIN}")
        span.set_attribute("order.id", DECOY_ORDER)
        span.set_attribute("order.number", DECOY_ORDER_INT)
        span.set_attribute("enduser.email", EMAIL)
        span.set_attribute("http.request.header.authorization", BEARER)
        span.set_attribute("session.jwt", JWT)
        span.set_attribute("aws.access_key", AWS)
        span.set_attribute("customer.ssn", SSN)
        span.set_attribute("client.address", IPV6)
        span.set_attribute("customer.tags", ["vip", EMAIL_2, str(CARD_INT_2)])
        span.add_event(f"card declined for {EMAIL}", {"exception.message": f"card {CARD_SPACES} declined", "ssn": SSN})
        span.set_status(Status(StatusCode.ERROR, f"payment failed for {EMAIL_2} with {CARD_PLAIN}"))

    mp = MeterProvider(
        resource=resource,
        metric_readers=[PeriodicExportingMetricReader(metric_exp, export_interval_millis=3_600_000)],
    )
    meter = mp.get_meter("billing.metrics")
    meter.create_counter("billing.charges").add(1, {"customer": EMAIL, "card": CARD_SPACES, "card_int": CARD_INT_2})

    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(log_exp))
    logger = lp.get_logger("billing.audit", attributes={"auditor": EMAIL_2})
    logger.emit(body=f"charged {CARD_DASHES} for {EMAIL} from {IPV4}", severity_number=SeverityNumber.INFO,
                event_name=f"charge.{EMAIL}", attributes={"token": JWT})
    logger.emit(body={"customer": EMAIL, "card": CARD_INT, "nested": {"ssn": SSN, "key": AWS},
                      "history": [CARD_PLAIN, {"auth": BEARER}], EMAIL_2: "an email as a map key",
                      "order": DECOY_ORDER},
                severity_number=SeverityNumber.WARN)
    logger.emit(body=[f"ssn {SSN}", CARD_INT_2, IPV6], severity_number=SeverityNumber.ERROR)
    logs = 3

    ok = tp.force_flush(30_000) and lp.force_flush(30_000)
    tp.shutdown()
    lp.shutdown()
    mp.shutdown()
    json.dump({"ok": bool(ok), "secrets": SECRETS, "decoys": DECOYS, "spans": spans, "logs": logs}, sys.stdout)


if __name__ == "__main__":
    main()

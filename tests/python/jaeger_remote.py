"""Fetches head-sampling strategies from Weir's Jaeger remote-sampling endpoint with the real
`jaeger-client` and reports what it applied.

Usage: jaeger_remote.py --port PORT --service NAME --operations A,B [--spans N]

Starts a tracer with a remote sampler polling 127.0.0.1:PORT/sampling every second, waits until
its first strategy arrived, then starts N spans per operation and counts the sampled ones, twice:
at once and one (frozen-clock) second later.
Prints JSON: {"sampler": str, "sampled": {operation: n}, "sampled_one_second_later": {…}}.
"""

import argparse
import json
import logging
import time

from jaeger_client import Config
from jaeger_client.sampler import RemoteControlledSampler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--operations", required=True)
    p.add_argument("--spans", type=int, default=50)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    # No `sampler` type: jaeger-client then uses its remote-controlled sampler.
    config = Config(
        config={
            "sampling_refresh_interval": 1,
            "local_agent": {"sampling_port": a.port, "reporting_host": "127.0.0.1",
                            "reporting_port": 9},
            "logging": False,
            "reporter_batch_size": 1,
        },
        service_name=a.service,
        validate=True,
    )
    tracer = config.new_tracer()
    remote = tracer.sampler
    assert isinstance(remote, RemoteControlledSampler), remote
    initial = repr(remote.sampler)
    deadline = time.time() + 20
    while repr(remote.sampler) == initial and time.time() < deadline:
        time.sleep(0.1)
    # jaeger-client's rate limiter starts with a random balance and reads the wall clock. Run it
    # on a frozen clock from a full balance, so what it samples depends only on the rate Weir
    # served: with R traces per second, max(R, 1) spans now and R more one second later.
    limiter = getattr(remote.sampler, "rate_limiter", None)
    clock = [0.0]
    if limiter is not None:
        clock[0] = limiter.last_tick
        limiter.timestamp = lambda: clock[0]
        limiter.balance = limiter.max_balance

    def sample_all():
        return {
            op: sum(1 for _ in range(a.spans) if tracer.start_span(op).is_sampled())
            for op in a.operations.split(",")
        }

    sampled = sample_all()
    clock[0] += 1.0
    later = sample_all()
    print(json.dumps({"sampler": repr(remote.sampler), "sampled": sampled,
                      "sampled_one_second_later": later}))
    tracer.close()


if __name__ == "__main__":
    main()

"""tier-policy: a Weir tail-sampling policy in Python. It keeps every trace in which a span has
an error or the attribute `customer.tier` set to one of the configured values, and has no
opinion otherwise.

Config: {"values": ["enterprise"]}.
"""

import weir_plugin

ERROR = 2  # OTLP status code


class TierPolicy(weir_plugin.Policy):
    def __init__(self, config):
        unknown = sorted(set(config) - {"values"})
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown key (known: values)")
        values = config.get("values")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise ValueError("values: list at least one value")
        self.values = set(values)

    def evaluate(self, trace):
        tiers = trace.attribute("customer.tier")
        codes = trace.numbers("status_code")
        for i in range(len(trace)):
            if int.from_bytes(codes[i * 8:i * 8 + 8], "little", signed=True) == ERROR:
                return weir_plugin.keep("error")
            if tiers.kinds[i] == 1 and tiers.get(i) in self.values:
                return weir_plugin.keep(f"customer.tier={tiers.get(i)}")
        return weir_plugin.NO_OPINION


WitWorld = weir_plugin.export_policy(TierPolicy)

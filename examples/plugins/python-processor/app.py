"""env-mask: a Weir processor in Python. It tags every span, data point and log record with
`deployment.environment` from its config, and masks the `user.email` attribute as `***`,
counting the masked values in the plugin counter `masked{label="user.email"}`.

Config: {"environment": "production"}.
"""

import weir_plugin


class EnvMask(weir_plugin.Processor):
    def __init__(self, config):
        unknown = sorted(set(config) - {"environment"})
        if unknown:
            # Start errors with the key at fault: Weir points at its line in the config.
            raise ValueError(f"{unknown[0]}: unknown key (known: environment)")
        environment = config.get("environment")
        if not isinstance(environment, str) or not environment:
            raise ValueError("environment: required, a non-empty string")
        self.environment = environment

    def process(self, batch):
        # One call each way: read the `user.email` column, then write the masked rows.
        emails = batch.attribute("user.email")
        owners = [i for i in range(len(emails)) if emails.kinds[i] != 0]
        batch.set_attribute("deployment.environment", self.environment)
        if owners:
            batch.set_attribute("user.email", "***", owners=owners)
            weir_plugin.counter_add("masked", "user.email", len(owners))


WitWorld = weir_plugin.export(EnvMask)

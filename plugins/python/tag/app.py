"""The tag processor in Python: sets configured attributes on every item and resource."""

import weir_plugin


class Tag(weir_plugin.Processor):
    def __init__(self, config):
        self.attributes = config.get("attributes", {})
        self.resource = config.get("resource", {})
        if not self.attributes and not self.resource:
            raise ValueError("set at least one of `attributes` or `resource`")

    def process(self, batch):
        for k, v in self.attributes.items():
            batch.set_attribute(k, v)
        for k, v in self.resource.items():
            batch.set_attribute(k, v, level=weir_plugin.RESOURCE)
        weir_plugin.counter_add("tagged", "items", len(batch))


WitWorld = weir_plugin.export(Tag)

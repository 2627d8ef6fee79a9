"""The tag processor in Python: sets configured attributes on every item and resource, and
with `mark = {key, patterns}` marks the items Weir's `find` kernel finds any pattern in.
`roundtrip = true` lends the marked items as OTLP and hands them back unchanged (a check of
`otlp_items` / `replace_items`)."""

import weir_plugin


class Tag(weir_plugin.Processor):
    def __init__(self, config):
        self.attributes = config.get("attributes", {})
        self.resource = config.get("resource", {})
        self.mark = config.get("mark")
        self.roundtrip = config.get("roundtrip", False)
        if not self.attributes and not self.resource and not self.mark:
            raise ValueError("set at least one of `attributes`, `resource` or `mark`")

    def process(self, batch):
        for k, v in self.attributes.items():
            batch.set_attribute(k, v)
        for k, v in self.resource.items():
            batch.set_attribute(k, v, level=weir_plugin.RESOURCE)
        weir_plugin.counter_add("tagged", "items", len(batch))
        if self.mark:
            items, shared = batch.find(self.mark["patterns"])
            if self.roundtrip:
                batch.replace_items(items, batch.otlp_items(items))
            elif items:
                batch.set_attribute(self.mark["key"], "yes", owners=items)
            weir_plugin.counter_add("marked", "shared" if shared else "items", len(items))


WitWorld = weir_plugin.export(Tag)

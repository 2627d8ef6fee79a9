"""The boundary benchmark's workloads in Python (benches/boundary.rs): noop, add one attribute
to every item, scan every string attribute and mask the matches."""

import re

import weir_plugin


class Bench(weir_plugin.Processor):
    def __init__(self, config):
        self.mode = config["mode"]
        self.pattern = re.compile(config.get("pattern", "x"))

    def process(self, batch):
        if self.mode == "add":
            batch.set_attribute("bench.added", "yes")
        elif self.mode == "mask":
            table = batch.attributes()
            values = table.values
            kinds, search = values.kinds, self.pattern.search
            text = values.text
            for r in range(len(kinds)):
                if kinds[r] == 1 and search(text.raw(r).decode()):
                    weir_plugin.Item(batch, table.owners[r]).set_attribute(table.key(r), "***")


WitWorld = weir_plugin.export(Bench)

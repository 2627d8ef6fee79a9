"""Plain-Python tests of the SDK and the example plugins on OTLP/JSON fixtures:
``python3 -m unittest discover -s plugins/python``."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "tag"), os.path.join(HERE, "bench")]

import weir_plugin  # noqa: E402

TRACES = {"resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
    "scopeSpans": [{"spans": [
        {"name": "GET /cart", "attributes": [
            {"key": "card", "value": {"stringValue": "4111-1111-1111-1111"}},
            {"key": "retries", "value": {"intValue": "2"}}]},
        {"name": "SELECT", "attributes": [{"key": "db", "value": {"stringValue": "carts"}}]},
    ]}]}]}


def load(app_dir):
    import importlib.util
    path = os.path.join(HERE, app_dir, "app.py")
    spec = importlib.util.spec_from_file_location(os.path.basename(app_dir), path)
    mod = importlib.util.module_from_spec(spec)
    # export() needs the component bindings; the classes are what tests use.
    saved = weir_plugin.export, weir_plugin.export_policy
    weir_plugin.export = weir_plugin.export_policy = lambda cls: None
    try:
        spec.loader.exec_module(mod)
    finally:
        weir_plugin.export, weir_plugin.export_policy = saved
    return mod


EXAMPLES = os.path.join(HERE, "..", "..", "examples", "plugins")


def fixture(name):
    import json
    with open(os.path.join(EXAMPLES, "fixtures", name)) as f:
        return json.load(f)


class ExamplePluginsTest(unittest.TestCase):
    """The Python examples (examples/plugins/python-*) on the fixtures every language shares."""

    def test_tier_policy_gives_the_shared_verdict(self):
        policy = load(os.path.join(EXAMPLES, "python-sampler")).TierPolicy
        got = weir_plugin.evaluate(policy, fixture("sampler-config.json"),
                                   fixture("sampler-in.json"))
        self.assertEqual(got, fixture("sampler-out.json"))

    def test_tier_policy_keeps_errors_and_has_no_opinion_otherwise(self):
        policy = load(os.path.join(EXAMPLES, "python-sampler")).TierPolicy
        trace = fixture("sampler-in.json")
        span = trace["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        span["attributes"] = [{"key": "customer.tier", "value": {"stringValue": "free"}}]
        no = weir_plugin.evaluate(policy, {"values": ["enterprise"]}, trace)
        self.assertEqual(no, {"decision": "no-opinion", "reason": ""})
        span["status"] = {"code": 2}
        self.assertEqual(weir_plugin.evaluate(policy, {"values": ["enterprise"]}, trace),
                         {"decision": "keep", "reason": "error"})
        with self.assertRaisesRegex(ValueError, "values: list at least one value"):
            policy({"values": []})

    def test_env_mask_tags_and_masks(self):
        processor = load(os.path.join(EXAMPLES, "python-processor")).EnvMask
        weir_plugin.COUNTS.clear()
        out = weir_plugin.run(processor, fixture("processor-config.json"),
                              fixture("processor-in.json"))
        spans = out["resourceSpans"][0]["scopeSpans"][0]["spans"]
        attrs = [{kv["key"]: kv["value"] for kv in s["attributes"]} for s in spans]
        self.assertEqual([a["deployment.environment"] for a in attrs],
                         [{"stringValue": "production"}] * 2)
        self.assertEqual(attrs[0]["user.email"], {"stringValue": "***"})
        self.assertNotIn("user.email", attrs[1])
        self.assertEqual(weir_plugin.COUNTS, {("masked", "user.email"): 1})
        with self.assertRaisesRegex(ValueError, "colour: unknown key"):
            processor({"environment": "x", "colour": "red"})


class TagTest(unittest.TestCase):
    def test_tags_items_and_resources(self):
        tag = load("tag").Tag
        weir_plugin.COUNTS.clear()
        out = weir_plugin.run(tag, {"attributes": {"team": "payments"}, "resource": {"env": "prod"}}, TRACES)
        spans = out["resourceSpans"][0]["scopeSpans"][0]["spans"]
        self.assertEqual(weir_plugin.COUNTS, {("tagged", "items"): len(spans)})
        rs = out["resourceSpans"][0]
        self.assertIn({"key": "env", "value": {"stringValue": "prod"}}, rs["resource"]["attributes"])
        for span in rs["scopeSpans"][0]["spans"]:
            self.assertIn({"key": "team", "value": {"stringValue": "payments"}}, span["attributes"])

    def test_rejects_an_empty_config(self):
        with self.assertRaises(ValueError):
            weir_plugin.run(load("tag").Tag, {}, TRACES)


class SdkTest(unittest.TestCase):
    def test_reads_columns_lazily_and_applies_sparse_edits_and_drops(self):
        seen = {}

        class Mask(weir_plugin.Processor):
            def __init__(self, config):
                pass

            def process(self, batch):
                for item in batch.items():
                    seen[item.name] = item.attributes
                    if item.attribute("card"):
                        item.set_attribute("card", "****")
                    if item.name == "SELECT":
                        item.drop()

        out = weir_plugin.run(Mask, {}, TRACES)
        self.assertEqual(seen["GET /cart"], {"card": "4111-1111-1111-1111", "retries": 2})
        spans = out["resourceSpans"][0]["scopeSpans"][0]["spans"]
        self.assertEqual([s["name"] for s in spans], ["GET /cart"])
        self.assertIn({"key": "card", "value": {"stringValue": "****"}}, spans[0]["attributes"])

    def test_an_exception_applies_nothing(self):
        class Fails(weir_plugin.Processor):
            def __init__(self, config):
                pass

            def process(self, batch):
                batch.set_attribute("x", "y")
                raise RuntimeError("no")

        with self.assertRaises(RuntimeError):
            weir_plugin.run(Fails, {}, TRACES)

    def test_bench_mask_masks_only_matches(self):
        bench = load("bench").Bench
        out = weir_plugin.run(bench, {"mode": "mask", "pattern": "^4111"}, TRACES)
        attrs = out["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
        self.assertIn({"key": "card", "value": {"stringValue": "***"}}, attrs)
        other = out["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["attributes"]
        self.assertIn({"key": "db", "value": {"stringValue": "carts"}}, other)



class ErrorsTest(unittest.TestCase):
    def test_an_error_names_its_type_message_and_where_it_was_raised(self):
        import io

        def lookup(table):
            return table["production"]

        def process():
            return lookup({})

        stderr, sys.stderr = sys.stderr, io.StringIO()
        try:
            with self.assertRaises(RuntimeError) as caught:
                weir_plugin._guarded(process)
            written = sys.stderr.getvalue()
        finally:
            sys.stderr = stderr
        message = str(caught.exception)
        self.assertTrue(message.startswith("KeyError: 'production' (at "), message)
        self.assertIn("test_weir_plugin.py:", message)
        self.assertTrue(message.endswith(" in lookup)"), message)
        self.assertIn("Traceback (most recent call last)", written)
        self.assertIn('table["production"]', written)

    def test_a_value_error_stays_as_it_is_for_pointing_at_the_key(self):
        def init():
            raise ValueError("team: must be a string")
        with self.assertRaises(RuntimeError) as caught:
            weir_plugin._guarded(init)
        self.assertEqual(str(caught.exception), "team: must be a string")


if __name__ == "__main__":
    unittest.main()

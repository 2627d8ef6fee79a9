"""Write Weir processor plugins in Python (built into components with componentize-py).

    import weir_plugin

    class Tag(weir_plugin.Processor):
        def __init__(self, config):
            self.team = config["team"]

        def process(self, batch):
            batch.set_attribute("team", self.team)          # every span / point / record

    WitWorld = weir_plugin.export(Tag)

A tail-sampling policy sees one assembled trace as a read-only traces batch and returns a verdict:

    class Vip(weir_plugin.Policy):
        def __init__(self, config):
            self.tiers = set(config["tiers"])

        def evaluate(self, trace):
            for span in trace.items():
                if span.attribute("customer.tier") in self.tiers:
                    return weir_plugin.keep("vip")
            return weir_plugin.NO_OPINION

    WitWorld = weir_plugin.export_policy(Vip)

A batch hands out spans, metric data points and log records (``batch.items()``) as light
objects over the host's columns: nothing is fetched until it is read, strings arrive as one
blob and are decoded only when touched. Writes take effect when ``process`` returns; if it
raises, none of them happen and the batch gets the processor's ``on_error`` policy.

Plain-Python tests run the same logic on an OTLP/JSON fixture: ``weir_plugin.run(Tag, config,
fixture)`` returns the batch afterwards as OTLP/JSON (see ``testing.py``).
"""

import json
import os
import sys


class _LogStream:
    """sys.stdout / sys.stderr inside a component: whole lines go to Weir's log."""

    def __init__(self, level):
        self.level = level
        self.partial = ""

    def write(self, text):
        self.partial += text
        *lines, self.partial = self.partial.split("\n")
        for line in lines:
            log(self.level, line)
        return len(text)

    def flush(self):
        pass


def log(level, message):
    """Writes to Weir's log ("debug", "info", "warn", "error"), tagged with the plugin's name."""
    try:
        from wit_world.imports import log as _log
    except ImportError:  # plain Python: tests
        print(f"{level}: {message}", file=sys.__stderr__)
        return
    _log.log(getattr(_log.LogLevel, level.upper()), message)


# Counts recorded outside a component (plain-Python tests), by (name, label).
COUNTS = {}


def counter_add(name, label, delta=1):
    """Adds `delta` to the plugin's counter `name` with label `label`, shown in Weir's /metrics as
    weir_plugin_counter_total{counter=name, label=label}. Counts from a failed call are discarded;
    keep labels bounded (config or attribute keys, never values). Outside a component the counts
    go to `COUNTS` so tests can check them."""
    if _metrics is None:  # plain Python: tests
        COUNTS[(name, label)] = COUNTS.get((name, label), 0) + delta
        return
    _metrics.counter_add(name, label, delta)


# Imported now, while componentize-py pre-initialises the component: a component built with
# --stub-wasi has no filesystem to import modules from at run time.
try:
    from wit_world.imports import metrics as _metrics
except ImportError:
    _metrics = None


try:  # inside a component, built with --stub-wasi: there is no stdout, use the log
    import wit_world  # noqa: F401

    sys.stdout = _LogStream("info")
    sys.stderr = _LogStream("error")
except ImportError:
    pass

ITEM = "item"
RESOURCE = "resource"
TRACES, METRICS, LOGS = "traces", "metrics", "logs"
TEXT_FIELDS = ("name", "status_message", "trace_state", "severity_text", "body", "unit",
               "description", "scope_name")
NUMBER_FIELDS = ("time_unix_nano", "end_time_unix_nano", "kind", "status_code", "value", "flags")
ID_FIELDS = ("trace_id", "span_id", "parent_span_id")


def _u32(packed):
    """A packed little-endian u32 column as a sequence of ints, without copying."""
    return memoryview(packed).cast("I")


class Strings:
    """One string per row: one blob plus offsets, decoded per row on access."""

    __slots__ = ("data", "offsets")

    def __init__(self, data, offsets):
        self.data = data
        self.offsets = _u32(offsets)

    def __len__(self):
        return max(len(self.offsets) - 1, 0)

    def raw(self, i):
        return self.data[self.offsets[i]:self.offsets[i + 1]]

    def __getitem__(self, i):
        return self.raw(i).decode("utf-8", "replace")


# Value kind bytes (`value-column.kinds` in wit/plugin.wit), as engine/abi defines them;
# engine/abi/tests/sdks.rs checks these lines.
KIND_ABSENT = 0
KIND_STRING = 1
KIND_BOOL = 2
KIND_INT = 3
KIND_DOUBLE = 4
KIND_BYTES = 5
KIND_JSON = 6


class Values:
    """One attribute value per row; ``get(i)`` is None where the row is absent."""

    __slots__ = ("kinds", "numbers", "text")

    def __init__(self, kinds, numbers, text_data, text_offsets):
        self.kinds = kinds
        self.numbers = memoryview(numbers)
        self.text = Strings(text_data, text_offsets)

    def __len__(self):
        return len(self.kinds)

    def get(self, i):
        k = self.kinds[i]
        if k == KIND_STRING:
            return self.text[i]
        if k == KIND_BOOL:
            return self.numbers[i * 8] != 0
        if k == KIND_INT:
            return int.from_bytes(self.numbers[i * 8:i * 8 + 8], "little", signed=True)
        if k == KIND_DOUBLE:
            return self.numbers[i * 8:i * 8 + 8].cast("d")[0]
        if k == KIND_BYTES:
            return bytes(self.text.raw(i))
        if k == KIND_JSON:
            return json.loads(self.text[i])
        return None


class AttributeTable:
    """Every attribute of one level, one row per attribute."""

    def __init__(self, owners, keys, key_ids, values):
        self.owners = _u32(owners)
        self.keys = keys
        self.key_ids = _u32(key_ids)
        self.values = values
        self._starts = None

    def __len__(self):
        return len(self.owners)

    def key(self, row):
        return self.keys[self.key_ids[row]]

    def rows(self):
        """(owner, key, value) for every row."""
        for r in range(len(self.owners)):
            yield self.owners[r], self.key(r), self.values.get(r)

    def of(self, owner):
        """{key: value} of one owner."""
        if self._starts is None:
            self._starts = {}
            for r, o in enumerate(self.owners):
                self._starts.setdefault(o, [r, r])[1] = r + 1
        a, b = self._starts.get(owner, (0, 0))
        return {self.key(r): self.values.get(r) for r in range(a, b)}


class Item:
    """A span, metric data point or log record, read lazily from the batch's columns."""

    __slots__ = ("batch", "index")

    def __init__(self, batch, index):
        self.batch = batch
        self.index = index

    def text(self, field):
        return self.batch.text(field)[self.index]

    @property
    def name(self):
        return self.text("name")

    @property
    def body(self):
        return self.text("body")

    @property
    def attributes(self):
        return self.batch.attributes(ITEM).of(self.index)

    def attribute(self, key):
        return self.attributes.get(key)

    def id(self, field="trace_id"):
        """The item's trace id (16 bytes), span id or parent span id (8 bytes); zeros if absent."""
        return self.batch.id(field, self.index)

    def number(self, field):
        col = self.batch.numbers(field)
        return int.from_bytes(col[self.index * 8:self.index * 8 + 8], "little")

    @property
    def status_code(self):
        return self.number("status_code")

    def set_attribute(self, key, value):
        self.batch._edits.append(("set", ITEM, self.index, key, value))

    def remove_attribute(self, key):
        self.batch._edits.append(("remove", ITEM, self.index, key))

    def set_text(self, field, value):
        self.batch._edits.append(("text", self.index, field, value))

    def drop(self):
        self.batch._drops.append(self.index)


class Batch:
    """One batch lent by Weir for one call; see the module docs."""

    def __init__(self, backend):
        self._b = backend
        self._text = {}
        self._numbers = {}
        self._ids = {}
        self._attrs = {}
        self._edits = []
        self._drops = []
        self.signal = backend.signal()
        self._len = backend.len()

    def __len__(self):
        return self._len

    def items(self):
        return (Item(self, i) for i in range(self._len))

    def text(self, field):
        if field not in self._text:
            self._text[field] = Strings(*self._b.text(field))
        return self._text[field]

    def numbers(self, field):
        if field not in self._numbers:
            self._numbers[field] = self._b.numbers(field)
        return self._numbers[field]

    def id(self, field, index):
        if field not in self._ids:
            self._ids[field] = self._b.ids(field)
        width = 8 if field != "trace_id" else 16
        return bytes(self._ids[field][index * width:(index + 1) * width])

    def attributes(self, level=ITEM):
        if level not in self._attrs:
            owners, keys, key_ids, values = self._b.attributes(level)
            self._attrs[level] = AttributeTable(owners, keys, key_ids, Values(*values))
        return self._attrs[level]

    def attribute(self, key, level=ITEM):
        return Values(*self._b.attribute(level, key))

    def set_attribute(self, key, value, level=ITEM, owners=None):
        self._flush()
        self._b.set_attribute(level, key, value, _pack(owners))

    def remove_attribute(self, key, level=ITEM, owners=None):
        self._flush()
        self._b.remove_attribute(level, key, _pack(owners))

    def drop(self, items):
        self._drops.extend(items)

    def otlp(self):
        return self._b.otlp()

    def replace_otlp(self, request):
        self._b.replace_otlp(request)

    def find(self, patterns, cards=False):
        """Host kernel: `(items, shared)` — the indices of the items in which any of
        `patterns` (Rust regex syntax, no anchors or word boundaries) matches any string, at any
        depth, or that hold a card number when `cards`; `shared` is true when something was
        found in resource or scope attributes or metric metadata. Weir searches natively, so
        the batch never crosses into Python. Only inside Weir (not on fixtures)."""
        items, shared = self._b.find(list(patterns), cards)
        return list(_u32(items)), shared

    def otlp_items(self, items):
        """The listed items (ascending) as an OTLP protobuf export request."""
        return self._b.otlp_items(_pack(items))

    def replace_items(self, items, request):
        """Puts back the items of a request read with `otlp_items(items)`."""
        self._b.replace_items(_pack(items), request)

    def _flush(self):
        if self._edits:
            self._b.apply(self._edits)
            self._edits = []

    def _finish(self):
        self._flush()
        if self._drops:
            self._b.drop_items(_pack(self._drops))


def _pack(indices):
    if indices is None:
        return None
    import array
    return array.array("I", indices).tobytes()


class Processor:
    """Subclass it: ``__init__(self, config)`` (raise to reject the config), ``process(self,
    batch)`` (raise to fail the batch), and optionally ``signals``."""

    signals = (TRACES, METRICS, LOGS)

    def process(self, batch):
        raise NotImplementedError


# Imported while componentize-py pre-initialises the component, like `metrics` above.
try:
    from componentize_py_types import Err as _Err
except ImportError:  # plain Python: tests
    _Err = RuntimeError


_WHERE_FRAMES = 3
"""How many of the innermost plugin frames an error message names."""

_TRACEBACK_CHARS = 4000
"""The most of a traceback written to stderr (Weir's log) for one error."""


def _where(e):
    """``file.py:LINE in function`` of the innermost frames of ``e`` outside this SDK, innermost
    last, or ``""``."""
    import traceback
    here = os.path.basename(__file__)
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if os.path.basename(f.filename) != here]
    return "; ".join(f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}"
                     for f in frames[-_WHERE_FRAMES:])


def _guarded(fn, *args):
    """Calls plugin code; any exception becomes the call's error string (what Weir shows). A
    ValueError's message is shown as it is, so that ``raise ValueError("team: must be a
    string")`` in ``__init__`` lets Weir point at the ``team`` key in the config file; other
    exceptions are prefixed with their type and say where they were raised (file and line),
    and their traceback goes to stderr, which Weir logs under the plugin's name."""
    try:
        return fn(*args)
    except ValueError as e:
        raise _Err(str(e))
    except Exception as e:  # noqa: BLE001 - any failure is the plugin's error message
        import traceback
        text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        sys.stderr.write(text[-_TRACEBACK_CHARS:])
        where = _where(e)
        at = f" (at {where})" if where else ""
        raise _Err(f"{type(e).__name__}: {e}{at}")


def export(cls):
    """The ``WitWorld`` class componentize-py exports, running processor class ``cls``."""
    from _weir_host import HostBackend, signal_to_wit

    class WitWorld:
        instance = None

        def init(self, config):
            WitWorld.instance = _guarded(cls, json.loads(config))

        def signals(self):
            return [signal_to_wit(s) for s in WitWorld.instance.signals]

        def process(self, handle):
            batch = Batch(HostBackend(handle))
            _guarded(WitWorld.instance.process, batch)
            batch._finish()

    return WitWorld


class Policy:
    """Subclass it for a tail-sampling policy: ``__init__(self, config)`` (raise to reject the
    config) and ``evaluate(self, trace)`` returning ``keep(reason)``, ``drop(reason)`` or
    ``NO_OPINION`` (raise to fail the trace: it gets the policy's ``on_error`` fallback). The
    trace is read-only."""

    def evaluate(self, trace):
        raise NotImplementedError


def keep(reason=""):
    """Keep the trace; with the sampler's ``record_policy`` its spans carry ``reason``."""
    return ("sample", reason)


def drop(reason=""):
    """Drop the trace whatever other policies say (a veto)."""
    return ("drop", reason)


NO_OPINION = ("no_opinion", "")
"""Let the other policies decide."""

_DECISIONS = ("sample", "drop", "no_opinion")


def _verdict(v):
    if not (isinstance(v, tuple) and len(v) == 2 and v[0] in _DECISIONS):
        raise TypeError(f"evaluate returned {v!r}: return keep(...), drop(...) or NO_OPINION")
    return v


def export_policy(cls):
    """The ``WitWorld`` class componentize-py exports for the sampler world, running policy
    class ``cls``."""
    from _weir_host import HostBackend
    import wit_world

    wit_decision = {"sample": wit_world.Decision.SAMPLE, "drop": wit_world.Decision.DROP,
                    "no_opinion": wit_world.Decision.NO_OPINION}

    class WitWorld:
        instance = None

        def init(self, config):
            WitWorld.instance = _guarded(cls, json.loads(config))

        def evaluate(self, handle):
            trace = Batch(HostBackend(handle))
            decision, reason = _guarded(lambda: _verdict(WitWorld.instance.evaluate(trace)))
            return wit_world.Verdict(wit_decision[decision], str(reason))

    return WitWorld


def evaluate(cls, config, fixture):
    """Runs policy ``cls`` with ``config`` on the trace in an OTLP/JSON ``fixture`` in plain
    Python and returns ``{"decision": "keep" | "drop" | "no-opinion", "reason": ...}``, the shape
    ``weir plugin test`` prints."""
    from testing import FixtureBackend
    decision, reason = _verdict(cls(config).evaluate(Batch(FixtureBackend(fixture))))
    shown = {"sample": "keep", "drop": "drop", "no_opinion": "no-opinion"}[decision]
    return {"decision": shown, "reason": reason}


def run(cls, config, fixture):
    """Runs processor ``cls`` with ``config`` (a dict) once on an OTLP/JSON ``fixture`` (a dict)
    in plain Python and returns the batch afterwards as OTLP/JSON."""
    from testing import FixtureBackend
    backend = FixtureBackend(fixture)
    p = cls(config)
    if backend.signal() in p.signals:
        batch = Batch(backend)
        p.process(batch)
        batch._finish()
        backend.commit()
    return backend.doc

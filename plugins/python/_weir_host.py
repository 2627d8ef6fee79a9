"""The Weir host behind a Python plugin's batch: converts between the SDK's plain values and
the componentize-py bindings of wit/ (only importable inside a component)."""

from wit_world.imports import types as t

_LEVEL = {"item": t.AttributeLevel.ITEM, "resource": t.AttributeLevel.RESOURCE}
_SIGNAL = {t.Signal.TRACES: "traces", t.Signal.METRICS: "metrics", t.Signal.LOGS: "logs"}
_TEXT = {n: getattr(t.TextField, n.upper()) for n in
         ("name", "status_message", "trace_state", "severity_text", "body", "unit", "description",
          "scope_name")}
_NUMBER = {n: getattr(t.NumberField, n.upper()) for n in
           ("time_unix_nano", "end_time_unix_nano", "kind", "status_code", "value", "flags")}
_ID = {n: getattr(t.IdField, n.upper()) for n in ("trace_id", "span_id", "parent_span_id")}


def signal_to_wit(name):
    return {"traces": t.Signal.TRACES, "metrics": t.Signal.METRICS, "logs": t.Signal.LOGS}[name]


def to_any(v):
    if isinstance(v, bool):
        return t.AnyValue_Boolean(v)
    if isinstance(v, int):
        return t.AnyValue_Int(v)
    if isinstance(v, float):
        return t.AnyValue_Double(v)
    if isinstance(v, (bytes, bytearray)):
        return t.AnyValue_Bytes(bytes(v))
    if isinstance(v, str):
        return t.AnyValue_Str(v)
    import json
    return t.AnyValue_Json(json.dumps(v))


def _values(c):
    return (c.kinds, c.numbers, c.text.data, c.text.offsets)


class HostBackend:
    def __init__(self, handle):
        self.h = handle

    def signal(self):
        return _SIGNAL[self.h.signal()]

    def len(self):
        return self.h.len()

    def text(self, field):
        s = self.h.text(_TEXT[field])
        return s.data, s.offsets

    def numbers(self, field):
        return self.h.numbers(_NUMBER[field])

    def ids(self, field):
        return self.h.ids(_ID[field])

    def attributes(self, level):
        a = self.h.attributes(_LEVEL[level])
        return a.owners, a.keys, a.key_ids, _values(a.values)

    def attribute(self, level, key):
        return _values(self.h.attribute(_LEVEL[level], key))

    def set_attribute(self, level, key, value, owners):
        self.h.set_attribute(_LEVEL[level], key, to_any(value), owners)

    def remove_attribute(self, level, key, owners):
        self.h.remove_attribute(_LEVEL[level], key, owners)

    def drop_items(self, packed):
        self.h.drop_items(packed)

    def apply(self, edits):
        out = []
        for e in edits:
            if e[0] == "set":
                out.append(t.Edit_SetAttribute(t.SetAttribute(_LEVEL[e[1]], e[2], e[3], to_any(e[4]))))
            elif e[0] == "remove":
                out.append(t.Edit_RemoveAttribute(t.RemoveAttribute(_LEVEL[e[1]], e[2], e[3])))
            else:
                out.append(t.Edit_SetText(t.SetText(e[1], _TEXT[e[2]], e[3])))
        self.h.apply(out)

    def otlp(self):
        return self.h.otlp()

    def replace_otlp(self, request):
        self.h.replace_otlp(request)

    def find(self, patterns, cards):
        f = self.h.find(patterns, cards)
        return (f.items, f.shared)

    def otlp_items(self, packed):
        return self.h.otlp_items(packed)

    def replace_items(self, packed, request):
        self.h.replace_items(packed, request)

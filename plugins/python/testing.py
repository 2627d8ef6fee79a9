"""Plain-Python stand-in for the Weir host, so a plugin's logic runs on OTLP/JSON fixtures
without building a component: ``weir_plugin.run(Processor, config, fixture)``.

It serves the same columns as the host and applies writes the same way (in order, only after
``process`` returned). It covers what the SDK exposes; the host remains the reference.
"""

import array
import json

_CONTAINERS = {
    "traces": ("resourceSpans", "scopeSpans", "spans"),
    "logs": ("resourceLogs", "scopeLogs", "logRecords"),
    "metrics": ("resourceMetrics", "scopeMetrics", "metrics"),
}
_POINT_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")
_KIND_BYTE = {"stringValue": 1, "boolValue": 2, "intValue": 3, "doubleValue": 4, "bytesValue": 5,
              "arrayValue": 6, "kvlistValue": 6}


def _to_json_value(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, str):
        return {"stringValue": v}
    raise TypeError(f"unsupported attribute value {v!r}")


class FixtureBackend:
    def __init__(self, doc):
        self.doc = json.loads(json.dumps(doc))
        self._signal = next(s for s, (top, _, _) in _CONTAINERS.items() if top in self.doc)
        top, scopes, leaf = _CONTAINERS[self._signal]
        self.resources = [r.setdefault("resource", {}) for r in self.doc[top]]
        self.items = []  # (resource index, item dict, metric dict or None)
        for ri, r in enumerate(self.doc[top]):
            for s in r.get(scopes, []):
                for x in s.get(leaf, []):
                    if self._signal != "metrics":
                        self.items.append((ri, x, None))
                        continue
                    for kind in _POINT_KINDS:
                        for p in x.get(kind, {}).get("dataPoints", []):
                            self.items.append((ri, p, x))
        self.writes = []

    def signal(self):
        return self._signal

    def len(self):
        return len(self.items)

    def _owners(self, level):
        if level == "item":
            return [x.setdefault("attributes", []) for _, x, _ in self.items]
        return [r.setdefault("attributes", []) for r in self.resources]

    def text(self, field):
        key = {"name": "name", "severity_text": "severityText", "status_message": None}.get(field, field)
        rows = []
        for _, x, metric in self.items:
            src = metric if (metric is not None and field in ("name", "unit", "description")) else x
            v = src.get(key, "") if key else x.get("status", {}).get("message", "")
            if field == "body":
                body = x.get("body", {})
                v = body.get("stringValue", json.dumps(body) if body else "")
            rows.append(v if isinstance(v, str) else "")
        return _strings(rows)

    def numbers(self, field):
        key = {"time_unix_nano": "startTimeUnixNano", "end_time_unix_nano": "endTimeUnixNano",
               "kind": "kind", "flags": "flags"}.get(field)
        out = array.array("Q")
        for _, x, _ in self.items:
            if field == "status_code":
                out.append(int(x.get("status", {}).get("code", 0)))
            else:
                out.append(int(x.get(key, 0)) if key else 0)
        return out.tobytes()

    def ids(self, field):
        key = {"trace_id": "traceId", "span_id": "spanId", "parent_span_id": "parentSpanId"}[field]
        width = 16 if field == "trace_id" else 8
        out = []
        for _, x, _ in self.items:
            raw = bytes.fromhex(x.get(key, "")) or bytes(width)
            if len(raw) != width:
                raise ValueError(f"{key} {x.get(key)!r}: expected {width} bytes as hex")
            out.append(raw)
        return b"".join(out)

    def _values(self, values):
        kinds, numbers, texts = bytearray(), array.array("q"), []
        for v in values:
            name, val = next(iter(v.items())) if v else (None, None)
            k = _KIND_BYTE.get(name, 0)
            kinds.append(k)
            numbers.append(int(val) if k in (2, 3) else 0)
            texts.append(val if k == 1 else json.dumps(v) if k == 6 else "")
        data, offsets = _strings(texts)
        return bytes(kinds), numbers.tobytes(), data, offsets

    def attributes(self, level):
        owners, keys, key_ids, values = array.array("I"), [], array.array("I"), []
        for o, attrs in enumerate(self._owners(level)):
            for kv in attrs:
                if kv["key"] not in keys:
                    keys.append(kv["key"])
                owners.append(o)
                key_ids.append(keys.index(kv["key"]))
                values.append(kv.get("value", {}))
        return owners.tobytes(), keys, key_ids.tobytes(), self._values(values)

    def attribute(self, level, key):
        values = [next((kv.get("value", {}) for kv in attrs if kv["key"] == key), {})
                  for attrs in self._owners(level)]
        return self._values(values)

    def set_attribute(self, level, key, value, owners):
        self.writes.append(("set", level, key, value, _unpack(owners)))

    def remove_attribute(self, level, key, owners):
        self.writes.append(("remove", level, key, None, _unpack(owners)))

    def apply(self, edits):
        for e in edits:
            if e[0] == "text":
                self.writes.append(e)
            else:
                self.writes.append((e[0], e[1], e[3], e[4] if e[0] == "set" else None, [e[2]]))

    def drop_items(self, packed):
        self.writes.append(("drop", _unpack(packed)))

    def commit(self):
        """Applies the recorded writes, as the host does when ``process`` succeeds."""
        dropped = set()
        for w in self.writes:
            if w[0] == "drop":
                dropped.update(w[1])
            elif w[0] == "text":
                _, item, field, value = w
                self.items[item][1]["name" if field == "name" else field] = value
            else:
                op, level, key, value, owners = w
                lists = self._owners(level)
                for o in (owners if owners is not None else range(len(lists))):
                    attrs = lists[o]
                    attrs[:] = [kv for kv in attrs if kv["key"] != key] if op == "remove" else attrs
                    if op == "set":
                        for kv in attrs:
                            if kv["key"] == key:
                                kv["value"] = _to_json_value(value)
                                break
                        else:
                            attrs.append({"key": key, "value": _to_json_value(value)})
        if dropped:
            keep = {id(x) for i, (_, x, _) in enumerate(self.items) if i not in dropped}
            top, scopes, leaf = _CONTAINERS[self._signal]
            for r in self.doc[top]:
                for s in r.get(scopes, []):
                    if self._signal != "metrics":
                        s[leaf] = [x for x in s.get(leaf, []) if id(x) in keep]
                    else:
                        for m in s.get(leaf, []):
                            for kind in _POINT_KINDS:
                                if kind in m:
                                    m[kind]["dataPoints"] = [p for p in m[kind]["dataPoints"] if id(p) in keep]


def _strings(rows):
    data, offsets = bytearray(), array.array("I", [0])
    for r in rows:
        data += r.encode()
        offsets.append(len(data))
    return bytes(data), offsets.tobytes()


def _unpack(packed):
    return None if packed is None else list(array.array("I", packed))

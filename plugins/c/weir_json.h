/*
 * weir_json.h: reads a Weir plugin's config in C. Weir hands `init` its config table as one
 * JSON object; this header walks the object's top-level keys without allocating, and copies
 * out strings and lists of strings. Header-only: include it in one .c file.
 *
 *   char *env = NULL;
 *   const char *bad = weir_json_check_keys(json, len, (const char *[]){"environment", NULL});
 *   int found = weir_json_string(json, len, "environment", &env);   // 1 found, 0 absent, -1 not a string
 */
#ifndef WEIR_JSON_H
#define WEIR_JSON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Nesting deeper than this is refused (a config is a few levels deep; the Wasm stack is small). */
#define WEIR_JSON_MAX_DEPTH 64

/* malloc that traps instead of returning NULL: in Wasm, address 0 is ordinary memory, so writing
 * through NULL would silently corrupt it. Running out of memory becomes a plugin error. */
static inline void *weir_json_alloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) __builtin_trap();
  return p;
}

/* One JSON value in the input: [start, end). */
typedef struct {
  const uint8_t *start, *end;
} weir_json_span;

static inline const uint8_t *weir_json_ws(const uint8_t *p, const uint8_t *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

static inline const uint8_t *weir_json_skip_(const uint8_t *p, const uint8_t *e, int depth);

/* The end of the value starting at p, or NULL if it is malformed. */
static inline const uint8_t *weir_json_skip(const uint8_t *p, const uint8_t *e) {
  return weir_json_skip_(p, e, 0);
}

static inline const uint8_t *weir_json_skip_(const uint8_t *p, const uint8_t *e, int depth) {
  p = weir_json_ws(p, e);
  if (p >= e || depth > WEIR_JSON_MAX_DEPTH) return NULL;
  if (*p == '"') {
    for (p++; p < e; p++) {
      if (*p == '\\') {
        if (e - p < 2) return NULL;
        p++;
      } else if (*p == '"') {
        return p + 1;
      }
    }
    return NULL;
  }
  if (*p == '{' || *p == '[') {
    uint8_t close = *p == '{' ? '}' : ']';
    p = weir_json_ws(p + 1, e);
    if (p < e && *p == close) return p + 1;
    while (p < e) {
      if (close == '}') {
        p = weir_json_skip_(p, e, depth + 1); /* the key */
        if (!p) return NULL;
        p = weir_json_ws(p, e);
        if (p >= e || *p != ':') return NULL;
        p++;
      }
      p = weir_json_skip_(p, e, depth + 1);
      if (!p) return NULL;
      p = weir_json_ws(p, e);
      if (p < e && *p == ',') { p++; continue; }
      if (p < e && *p == close) return p + 1;
      return NULL;
    }
    return NULL;
  }
  while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') p++;
  return p;
}

/*
 * Calls visit(key, key_len, value, ctx) for each top-level key of the object; stops early when
 * visit returns nonzero and returns that. Returns -1 if the text is not a JSON object.
 */
static inline int weir_json_each(const uint8_t *json, size_t len,
                          int (*visit)(const uint8_t *, size_t, weir_json_span, void *), void *ctx) {
  const uint8_t *p = weir_json_ws(json, json + len), *e = json + len;
  if (p >= e || *p != '{') return -1;
  p = weir_json_ws(p + 1, e);
  if (p < e && *p == '}') return 0;
  while (p < e) {
    const uint8_t *k = p, *ke = weir_json_skip(p, e);
    if (!ke || *k != '"') return -1;
    p = weir_json_ws(ke, e);
    if (p >= e || *p != ':') return -1;
    const uint8_t *v = weir_json_ws(p + 1, e), *ve = weir_json_skip(v, e);
    if (!ve) return -1;
    int r = visit(k + 1, (size_t)(ke - k - 2), (weir_json_span){v, ve}, ctx);
    if (r) return r;
    p = weir_json_ws(ve, e);
    if (p < e && *p == ',') { p = weir_json_ws(p + 1, e); continue; }
    return (p < e && *p == '}') ? 0 : -1;
  }
  return -1;
}

/* The value of 4 hex digits at p, or -1. */
static inline long weir_json_hex4(const uint8_t *p) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    uint8_t c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Writes code point cp as UTF-8 at o; returns the end. */
static inline char *weir_json_utf8(char *o, unsigned long cp) {
  if (cp < 0x80) {
    *o++ = (char)cp;
  } else if (cp < 0x800) {
    *o++ = (char)(0xC0 | (cp >> 6));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *o++ = (char)(0xE0 | (cp >> 12));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *o++ = (char)(0xF0 | (cp >> 18));
    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  }
  return o;
}

/* Copies a JSON string value, escapes resolved (\uXXXX and surrogate pairs to UTF-8), into a new
 * NUL-terminated buffer; NULL if the value is not a well-formed string. */
static inline char *weir_json_copy_string(weir_json_span v) {
  if (v.end - v.start < 2 || *v.start != '"') return NULL;
  /* Every escape is at least as long as what it stands for, so the input's length bounds it. */
  char *out = weir_json_alloc((size_t)(v.end - v.start)), *o = out;
  const uint8_t *end = v.end - 1; /* the closing quote */
  for (const uint8_t *p = v.start + 1; p < end; p++) {
    if (*p != '\\') { *o++ = (char)*p; continue; }
    if (++p >= end) break;
    switch (*p) {
      case 'n': *o++ = '\n'; break;
      case 't': *o++ = '\t'; break;
      case 'r': *o++ = '\r'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'u': {
        long cp = end - p > 4 ? weir_json_hex4(p + 1) : -1;
        if (cp < 0) { free(out); return NULL; }
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && end - p > 6 && p[1] == '\\' && p[2] == 'u') {
          long lo = weir_json_hex4(p + 3);
          if (lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
          }
        }
        o = weir_json_utf8(o, (unsigned long)cp);
        break;
      }
      default: *o++ = (char)*p; break;
    }
  }
  *o = 0;
  return out;
}

struct weir_json_find_ {
  const char *key;
  weir_json_span found;
};

static inline int weir_json_find_visit_(const uint8_t *k, size_t n, weir_json_span v, void *ctx) {
  struct weir_json_find_ *f = ctx;
  if (strlen(f->key) == n && memcmp(k, f->key, n) == 0) {
    f->found = v;
    return 1;
  }
  return 0;
}

/* The value of top-level `key`, or an empty span ({NULL, NULL}) if absent. */
static inline weir_json_span weir_json_find(const uint8_t *json, size_t len, const char *key) {
  struct weir_json_find_ f = {key, {NULL, NULL}};
  weir_json_each(json, len, weir_json_find_visit_, &f);
  return f.found;
}

/* String `key`: 1 and *out set (free it) if found, 0 if absent, -1 if it is not a string. */
static inline int weir_json_string(const uint8_t *json, size_t len, const char *key, char **out) {
  weir_json_span v = weir_json_find(json, len, key);
  if (!v.start) return 0;
  *out = weir_json_copy_string(v);
  return *out ? 1 : -1;
}

/* List of strings `key`: 1 and *out, *n set (free each and the array) if found, 0 if absent,
 * -1 if it is not a list of strings. */
static inline int weir_json_string_list(const uint8_t *json, size_t len, const char *key, char ***out, size_t *n) {
  weir_json_span v = weir_json_find(json, len, key);
  if (!v.start) return 0;
  if (*v.start != '[') return -1;
  *n = 0;
  *out = weir_json_alloc(sizeof(char *) * (size_t)(v.end - v.start));
  const uint8_t *p = weir_json_ws(v.start + 1, v.end);
  while (p < v.end && *p != ']') {
    const uint8_t *e = weir_json_skip(p, v.end);
    char *s = e ? weir_json_copy_string((weir_json_span){p, e}) : NULL;
    if (!s) {
      for (size_t i = 0; i < *n; i++) free((*out)[i]);
      free(*out);
      *out = NULL;
      *n = 0;
      return -1;
    }
    (*out)[(*n)++] = s;
    p = weir_json_ws(e, v.end);
    if (p < v.end && *p == ',') p = weir_json_ws(p + 1, v.end);
  }
  return 1;
}

struct weir_json_keys_ {
  const char *const *known;
  char unknown[128];
};

static inline int weir_json_keys_visit_(const uint8_t *k, size_t n, weir_json_span v, void *ctx) {
  (void)v;
  struct weir_json_keys_ *c = ctx;
  for (const char *const *x = c->known; *x; x++)
    if (strlen(*x) == n && memcmp(k, *x, n) == 0) return 0;
  size_t m = n < sizeof c->unknown - 1 ? n : sizeof c->unknown - 1;
  memcpy(c->unknown, k, m);
  c->unknown[m] = 0;
  return 1;
}

/* The first top-level key not in `known` (a NULL-terminated list), "(not a JSON object)" if the
 * text does not parse (Weir always passes an object), or NULL if all keys are known. The result
 * lives in a static buffer until the next call. */
static inline const char *weir_json_check_keys(const uint8_t *json, size_t len, const char *const *known) {
  static struct weir_json_keys_ c;
  c.known = known;
  int r = weir_json_each(json, len, weir_json_keys_visit_, &c);
  return r == 1 ? c.unknown : r < 0 ? "(not a JSON object)" : NULL;
}

/* Joins a and b into buf (cut to fit): error messages without stdio, which would make the module
 * import WASI's file descriptors. Returns buf. */
static inline const char *weir_json_message(char *buf, size_t size, const char *a, const char *b) {
  size_t n = 0;
  for (const char *s = a; *s && n + 1 < size; s++) buf[n++] = *s;
  for (const char *s = b; *s && n + 1 < size; s++) buf[n++] = *s;
  buf[n] = 0;
  return buf;
}

#endif

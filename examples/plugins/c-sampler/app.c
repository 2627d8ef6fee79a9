/*
 * tier-policy: a Weir tail-sampling policy in C. It keeps every trace in which a span has an
 * error or the attribute `customer.tier` set to one of the configured values, and has no opinion
 * otherwise.
 *
 * Config: {"values": ["enterprise"]}.
 *
 * gen/sampler.{h,c} are made by `wit-bindgen c` from wit/plugin.wit (see the Makefile).
 * Ownership follows the canonical ABI: arguments and returned lists belong to this module
 * (free them with the *_free helpers), strings handed to Weir are only borrowed, and the trace
 * handle must be dropped before `evaluate` returns.
 */
#include <stdlib.h>
#include <string.h>

#include "gen/sampler.h"
#include "weir_json.h"

#define STATUS_ERROR 2 /* OTLP status code */

static char **values;
static size_t value_count;

static bool fail(sampler_string_t *err, const char *message) {
  sampler_string_dup(err, message);
  return false;
}

bool exports_sampler_init(sampler_string_t *config, sampler_string_t *err) {
  char message[256];
  const char *unknown = weir_json_check_keys(config->ptr, config->len, (const char *[]){"values", NULL});
  int found = weir_json_string_list(config->ptr, config->len, "values", &values, &value_count);
  sampler_string_free(config);
  if (unknown || found != 1 || value_count == 0) {
    for (size_t v = 0; found == 1 && v < value_count; v++) free(values[v]);
    if (found == 1) free(values);
    values = NULL;
    value_count = 0;
    /* Start errors with the key at fault: Weir points at its line in the config. */
    if (unknown) return fail(err, weir_json_message(message, sizeof message, unknown, ": unknown key (known: values)"));
    return fail(err, "values: list at least one value");
  }
  return true;
}

/* Whether row i of a value column is one of the configured strings. */
static bool listed(const weir_plugin_telemetry_value_column_t *c, uint32_t i, const uint8_t **s, size_t *n) {
  if (i >= c->kinds.len || c->kinds.ptr[i] != 1) return false; /* 1: a string */
  uint32_t from, to;
  memcpy(&from, c->text.offsets.ptr + 4 * i, 4);
  memcpy(&to, c->text.offsets.ptr + 4 * (i + 1), 4);
  *s = c->text.data.ptr + from;
  *n = to - from;
  for (size_t v = 0; v < value_count; v++)
    if (strlen(values[v]) == *n && memcmp(values[v], *s, *n) == 0) return true;
  return false;
}

bool exports_sampler_evaluate(sampler_borrow_batch_t trace, sampler_verdict_t *ret, sampler_string_t *err) {
  (void)err;
  uint32_t n = weir_plugin_telemetry_method_batch_len(trace);
  sampler_list_u8_t codes;
  weir_plugin_telemetry_method_batch_numbers(trace, WEIR_PLUGIN_TYPES_NUMBER_FIELD_STATUS_CODE, &codes);
  weir_plugin_telemetry_value_column_t tiers;
  sampler_string_t key;
  sampler_string_set(&key, "customer.tier");
  weir_plugin_telemetry_method_batch_attribute(trace, WEIR_PLUGIN_TYPES_ATTRIBUTE_LEVEL_ITEM, &key, &tiers);

  ret->decision = SAMPLER_DECISION_NO_OPINION;
  sampler_string_dup(&ret->reason, "");
  for (uint32_t i = 0; i < n; i++) {
    int64_t code = 0;
    if (8 * (size_t)(i + 1) <= codes.len) memcpy(&code, codes.ptr + 8 * i, 8);
    const uint8_t *tier;
    size_t len;
    if (code == STATUS_ERROR) {
      ret->decision = SAMPLER_DECISION_SAMPLE;
      sampler_string_free(&ret->reason);
      sampler_string_dup(&ret->reason, "error");
      break;
    }
    if (listed(&tiers, i, &tier, &len)) {
      static const char prefix[] = "customer.tier=";
      ret->decision = SAMPLER_DECISION_SAMPLE;
      sampler_string_free(&ret->reason);
      ret->reason.len = sizeof prefix - 1 + len;
      ret->reason.ptr = weir_json_alloc(ret->reason.len);
      memcpy(ret->reason.ptr, prefix, sizeof prefix - 1);
      memcpy(ret->reason.ptr + sizeof prefix - 1, tier, len);
      break;
    }
  }
  sampler_list_u8_free(&codes);
  weir_plugin_telemetry_value_column_free(&tiers);
  /* A borrowed handle must be given back before returning. */
  weir_plugin_telemetry_batch_drop_borrow(trace);
  return true;
}

/*
 * env-mask: a Weir processor in C. It tags every span, data point and log record with
 * `deployment.environment` from its config, and masks the `user.email` attribute as `***`,
 * counting the masked values in the plugin counter `masked{label="user.email"}`.
 *
 * Config: {"environment": "production"}.
 *
 * gen/processor.{h,c} are made by `wit-bindgen c` from wit/plugin.wit (see the Makefile).
 * Ownership follows the canonical ABI: arguments and returned lists belong to this module
 * (free them with the *_free helpers), strings handed to Weir are only borrowed, and the batch
 * handle must be dropped before `process` returns.
 */
#include <stdlib.h>
#include <string.h>

#include "gen/processor.h"
#include "weir_json.h"

static processor_string_t environment;

static bool fail(processor_string_t *err, const char *message) {
  processor_string_dup(err, message);
  return false;
}

bool exports_processor_init(processor_string_t *config, processor_string_t *err) {
  char message[256];
  char *env = NULL;
  const char *unknown = weir_json_check_keys(config->ptr, config->len, (const char *[]){"environment", NULL});
  int found = weir_json_string(config->ptr, config->len, "environment", &env);
  processor_string_free(config);
  if (unknown) {
    /* Start errors with the key at fault: Weir points at its line in the config. */
    free(env);
    return fail(err, weir_json_message(message, sizeof message, unknown, ": unknown key (known: environment)"));
  }
  if (found != 1 || env[0] == 0) {
    free(env);
    return fail(err, "environment: required, a non-empty string");
  }
  processor_string_set(&environment, env); /* kept for the instance's life */
  return true;
}

void exports_processor_signals(processor_list_signal_t *ret) {
  ret->len = 3;
  ret->ptr = weir_json_alloc(3 * sizeof(processor_signal_t));
  ret->ptr[0] = WEIR_PLUGIN_TYPES_SIGNAL_TRACES;
  ret->ptr[1] = WEIR_PLUGIN_TYPES_SIGNAL_METRICS;
  ret->ptr[2] = WEIR_PLUGIN_TYPES_SIGNAL_LOGS;
}

bool exports_processor_process(processor_borrow_batch_t batch, processor_string_t *err) {
  (void)err;
  uint32_t n = weir_plugin_telemetry_method_batch_len(batch);
  processor_string_t key;

  /* One call each way: read the `user.email` column, then write the masked rows. */
  weir_plugin_telemetry_value_column_t emails;
  processor_string_set(&key, "user.email");
  weir_plugin_telemetry_method_batch_attribute(batch, WEIR_PLUGIN_TYPES_ATTRIBUTE_LEVEL_ITEM, &key, &emails);
  uint32_t *owners = weir_json_alloc(n * sizeof(uint32_t)); /* packed u32, little-endian like Wasm */
  uint32_t masked = 0;
  for (uint32_t i = 0; i < n && i < emails.kinds.len; i++)
    if (emails.kinds.ptr[i] != 0) owners[masked++] = i;
  weir_plugin_telemetry_value_column_free(&emails);

  weir_plugin_telemetry_any_value_t value = {.tag = WEIR_PLUGIN_TYPES_ANY_VALUE_STR, .val.str = environment};
  processor_string_set(&key, "deployment.environment");
  weir_plugin_telemetry_method_batch_set_attribute(batch, WEIR_PLUGIN_TYPES_ATTRIBUTE_LEVEL_ITEM, &key, &value, NULL);
  if (masked > 0) {
    processor_list_u8_t packed = {(uint8_t *)owners, masked * sizeof(uint32_t)};
    value.tag = WEIR_PLUGIN_TYPES_ANY_VALUE_STR;
    processor_string_set(&value.val.str, "***");
    processor_string_set(&key, "user.email");
    weir_plugin_telemetry_method_batch_set_attribute(batch, WEIR_PLUGIN_TYPES_ATTRIBUTE_LEVEL_ITEM, &key, &value, &packed);
    processor_string_t counter, label;
    processor_string_set(&counter, "masked");
    processor_string_set(&label, "user.email");
    weir_plugin_metrics_counter_add(&counter, &label, masked);
  }
  free(owners);
  /* A borrowed handle must be given back before returning (the Rust and Python bindings do it
   * for you). */
  weir_plugin_telemetry_batch_drop_borrow(batch);
  return true;
}

/* A module compiled against the frozen ABI 1.0 headers (sdk/abi/1.0): its descriptor, field,
 * setting and action structs are the smaller 1.0 ones, so today's host must step its arrays by
 * their own struct_size and zero-extend each one. It declares a record type with three fields,
 * a setting and an action that writes through the 1.0 host table. */
#include <juniper/sdk/c/juniper_module.h>

#include <string.h>

#if JUNIPER_ABI_MINOR != 0
#error "this fixture must be built against sdk/abi/1.0"
#endif

static const juniper_host_api* host;

static juniper_str str(const char* s) {
  juniper_str out = {s, strlen(s)};
  return out;
}

static juniper_status shout(void* user, juniper_ctx* ctx, juniper_str model, int64_t id, juniper_reply* reply,
                            juniper_error* err) {
  (void)user;
  juniper_status st = host->record_write(ctx, model, id, str("{\"count\": 42}"), err);
  if (st != JUNIPER_OK) return st;
  host->reply_json(reply, str("{\"message\": \"shouted\"}"));
  return JUNIPER_OK;
}

static juniper_status declare(const juniper_host_api* api, juniper_registrar* reg, juniper_error* err) {
  static const juniper_selection_item kinds[] = {{"a", "Kind A"}, {"b", "Kind B"}};
  static const juniper_field_desc fields[] = {
      {sizeof(juniper_field_desc), "name", JUNIPER_FIELD_CHAR, "Name", 0, JUNIPER_FIELD_REQUIRED, 0, 0, 0, 0},
      {sizeof(juniper_field_desc), "kind", JUNIPER_FIELD_SELECTION, "Kind", "a", 0, kinds, 2, 0, 0},
      {sizeof(juniper_field_desc), "count", JUNIPER_FIELD_INT, "Count", "3", 0, 0, 0, 0, "a 1.0 help text"}};
  static const juniper_record_type_desc note = {sizeof(juniper_record_type_desc), "test_abi10.note", "Notes", fields, 3, 0};
  static const juniper_setting_desc word = {
      sizeof(juniper_setting_desc), "test_abi10_word", 0, JUNIPER_FIELD_CHAR, "Word", "hi", 0, "ABI 1.0", 0, 0, 0, 0, 0};
  static const juniper_action_desc action = {sizeof(juniper_action_desc), "test_abi10.note", "shout", "Shout", 0, 0, shout, 0};
  juniper_status st;
  host = api;
  st = api->registrar->declare_record_type(reg, &note, err);
  if (st == JUNIPER_OK) st = api->registrar->declare_setting(reg, &word, err);
  if (st == JUNIPER_OK) st = api->registrar->declare_action(reg, &action, err);
  return st;
}

static juniper_status start(const juniper_host_api* api, juniper_ctx* ctx, juniper_error* err) {
  (void)ctx;
  (void)err;
  host = api;
  return JUNIPER_OK;
}

static void stop(void) {}

static const char* const no_depends[] = {0};
static const juniper_module_descriptor descriptor = {sizeof(juniper_module_descriptor),
                                                     JUNIPER_ABI_MAJOR,
                                                     JUNIPER_ABI_MINOR,
                                                     "test_abi10",
                                                     "test_abi10",
                                                     "1.0.0",
                                                     "built against the frozen ABI 1.0 headers",
                                                     no_depends,
                                                     declare,
                                                     start,
                                                     stop,
                                                     0,
                                                     0};

JUNIPER_MODULE_EXPORT const juniper_module_descriptor* juniper_module_get_descriptor_v1(void) { return &descriptor; }

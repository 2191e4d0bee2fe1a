/* A module written against the C contract only. Compile-time switches make the variants the
 * host must refuse. */
#include <juniper/sdk/c/juniper_module.h>

#ifndef RAW_ABI_MAJOR
#define RAW_ABI_MAJOR JUNIPER_ABI_MAJOR
#endif
#ifndef RAW_ABI_MINOR
#define RAW_ABI_MINOR JUNIPER_ABI_MINOR
#endif

static const char* const raw_depends[] = {
#ifdef RAW_DEPENDS
    RAW_DEPENDS,
#endif
    0};

static juniper_status raw_declare(const juniper_host_api* host, juniper_registrar* reg, juniper_error* err) {
#ifdef RAW_BAD_DECLARE
  /* Extends a type it does not depend on: the host must refuse and keep nothing. */
  static const juniper_field_desc field = {
      sizeof(juniper_field_desc), "intruder", JUNIPER_FIELD_CHAR, "Intruder", 0, 0, 0, 0, 0, 0};
  static const juniper_record_type_desc own = {sizeof(juniper_record_type_desc), "test_bad_declare.thing", "Thing", &field, 1, 0};
  static const juniper_record_type_desc ext = {sizeof(juniper_record_type_desc), "test_base.partner", 0, &field, 1, 0};
  juniper_status st = host->registrar->declare_record_type(reg, &own, err);
  if (st != JUNIPER_OK) return st;
  return host->registrar->extend_record_type(reg, &ext, err);
#else
  (void)host;
  (void)reg;
  (void)err;
  return JUNIPER_OK;
#endif
}

static juniper_status raw_start(const juniper_host_api* host, juniper_ctx* ctx, juniper_error* err) {
  (void)host;
  (void)ctx;
  (void)err;
  return JUNIPER_OK;
}

static void raw_stop(void) {}

static const juniper_module_descriptor raw_descriptor = {sizeof(juniper_module_descriptor),
                                                         RAW_ABI_MAJOR,
                                                         RAW_ABI_MINOR,
                                                         RAW_NAME,
                                                         RAW_NAME,
                                                         "1.0.0",
                                                         "refusal fixture",
                                                         raw_depends,
                                                         raw_declare,
                                                         raw_start,
                                                         raw_stop,
                                                         0,
                                                         0};

#ifdef RAW_NO_ENTRY
JUNIPER_MODULE_EXPORT const juniper_module_descriptor* juniper_module_get_descriptor_v0(void) { return &raw_descriptor; }
#else
JUNIPER_MODULE_EXPORT const juniper_module_descriptor* juniper_module_get_descriptor_v1(void) { return &raw_descriptor; }
#endif

/* record_test.c - the run-record reader (src/cli/record_read.c): it reads
 * files anyone can edit, so every malformed input is a clean error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/record.h"

static void test_flatten(void **state) {
  (void)state;
  heed_kv kv;
  char err[128];
  const char *text =
      "{\"format\":\"heed-run\",\"version\":1,\"options\":{\"lr\":0.05,"
      "\"hidden\":[64, 32],\"data\":\"a\\\"b\\\\c\\u0041\",\"none\":null},"
      "\"final\":{\"test_accuracy\":0.9,\"ok\":true},\"nested\":{\"a\":{"
      "\"b\":{\"c\":\"deep\"}}},\"objs\":[{\"x\":1},{\"y\":[2,{}]}]}";
  assert_int_equal(heed__kv_parse(&kv, text, err, sizeof err), 0);
  assert_string_equal(heed__kv_get(&kv, "format"), "heed-run");
  assert_string_equal(heed__kv_get(&kv, "version"), "1");
  assert_string_equal(heed__kv_get(&kv, "options.lr"), "0.05");
  assert_string_equal(heed__kv_get(&kv, "options.hidden"), "[64, 32]");
  assert_string_equal(heed__kv_get(&kv, "options.data"), "a\"b\\cA");
  assert_null(heed__kv_get(&kv, "options.none")); /* null: absent */
  assert_string_equal(heed__kv_get(&kv, "final.ok"), "true");
  assert_string_equal(heed__kv_get(&kv, "nested.a.b.c"), "deep");
  assert_string_equal(heed__kv_get(&kv, "objs"), "[{\"x\":1},{\"y\":[2,{}]}]");
  assert_null(heed__kv_get(&kv, "missing"));
  heed__kv_free(&kv);
}

static void test_malformed(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",  "[]", "{", "{\"a\"", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x",
      "{\"a\":\"unterminated}", "{\"a\":\"\\q\"}", "{\"a\":\"\\u12\"}",
      "{\"a\":[1,2}", "{\"a\":{\"b\":1]}", "{\"a\":\"tab\there\"}", "{1:2}",
      "{\"a\" 1}", "{\"a\":@}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    heed_kv kv;
    char err[128] = "";
    assert_int_equal(heed__kv_parse(&kv, bad[i], err, sizeof err), -1);
    assert_non_null(strstr(err, "at byte"));
    heed__kv_free(&kv);
  }
}

/* Nesting is bounded, so a hostile file cannot exhaust the stack. */
static void test_deep(void **state) {
  (void)state;
  static char text[200000];
  size_t n = 0;
  text[n++] = '{';
  text[n++] = '"';
  text[n++] = 'a';
  text[n++] = '"';
  text[n++] = ':';
  for (int i = 0; i < 50000; i++)
    text[n++] = '[';
  text[n] = 0;
  heed_kv kv;
  char err[128];
  assert_int_equal(heed__kv_parse(&kv, text, err, sizeof err), -1);
  assert_non_null(strstr(err, "nested too deep"));
  heed__kv_free(&kv);
  n = 0;
  for (int i = 0; i < 30000; i++) {
    memcpy(text + n, "{\"a\":", 5);
    n += 5;
  }
  text[n] = 0;
  assert_int_equal(heed__kv_parse(&kv, text, err, sizeof err), -1);
  heed__kv_free(&kv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flatten),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_deep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* error_test.c - the error table: every code has a distinct name and text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "heed/error.h"

static void test_every_code_named(void **state) {
  (void)state;
  for (int e = HEED_ERRNO_MIN; e < 0; e++) {
    assert_string_not_equal(heed_err_name(e), "HEED_UNKNOWN");
    assert_string_not_equal(heed_strerror(e), "unknown error");
    for (int f = HEED_ERRNO_MIN; f < e; f++)
      assert_string_not_equal(heed_err_name(e), heed_err_name(f));
  }
}

static void test_unknown_codes(void **state) {
  (void)state;
  assert_string_equal(heed_err_name(0), "HEED_OK");
  assert_string_equal(heed_err_name(-9999), "HEED_UNKNOWN");
  assert_string_equal(heed_strerror(12345), "unknown error");
  assert_string_equal(heed_err_name(HEED_EINVAL), "HEED_EINVAL");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code_named),
      cmocka_unit_test(test_unknown_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* error.c - the one table behind heed_strerror() and heed_err_name(). */
#include "heed/error.h"

const char *heed_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define HEED__ERR_DESC(name, val, desc)                                       \
  case HEED_##name:                                                           \
    return desc;
    HEED_ERRNO_MAP(HEED__ERR_DESC)
#undef HEED__ERR_DESC
  default:
    return "unknown error";
  }
}

const char *heed_err_name(int err) {
  switch (err) {
  case 0:
    return "HEED_OK";
#define HEED__ERR_NAME(name, val, desc)                                       \
  case HEED_##name:                                                           \
    return "HEED_" #name;
    HEED_ERRNO_MAP(HEED__ERR_NAME)
#undef HEED__ERR_NAME
  default:
    return "HEED_UNKNOWN";
  }
}

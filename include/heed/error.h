/*
 * heed/error.h - error codes shared by every heed call.
 *
 * Every function that can fail returns 0 on success or a negative HEED_E*
 * code. heed_strerror() gives a one-line English description and
 * heed_err_name() the symbolic name ("HEED_EINVAL"), as libuv does.
 */
#ifndef HEED_ERROR_H
#define HEED_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the symbols libheed exports; everything else is hidden. */
#if defined(__GNUC__)
#define HEED_API __attribute__((visibility("default")))
#else
#define HEED_API
#endif

/* X(name, value, description). Values are stable: they may be logged. */
#define HEED_ERRNO_MAP(X)                                                     \
  X(EINVAL, -1, "invalid argument")                                           \
  X(ENOMEM, -2, "out of memory")                                              \
  X(ENOENT, -3, "no such object")                                             \
  X(ECLOSED, -4, "object is closed or stopped")                               \
  X(EAGAIN, -5, "resource temporarily unavailable (mailbox full)")            \
  X(ESTATE, -6, "operation not valid in the current state")                   \
  X(EIO, -7, "input/output error")                                            \
  X(EFORMAT, -8, "malformed data")                                            \
  X(ETRUNC, -9, "truncated data")                                             \
  X(ERANGE, -10, "value out of range")                                        \
  X(EVERSION, -11, "version mismatch")                                        \
  X(ENOTSUP, -12, "operation not supported")                                  \
  X(ETIMEDOUT, -13, "timed out")                                              \
  X(EPROTO, -14, "protocol error")                                            \
  X(EPEER, -15, "peer failed or disconnected")                                \
  X(ESYMBOL, -16, "missing symbol in plugin")                                 \
  X(EEXIST, -17, "object already exists")                                     \
  X(EREFUSED, -18, "refused by a peer")                                       \
  X(EAUTH, -19, "authentication failed")

enum heed_errno {
#define HEED__ERR_ENUM(name, val, desc) HEED_##name = (val),
  HEED_ERRNO_MAP(HEED__ERR_ENUM)
#undef HEED__ERR_ENUM
  HEED_ERRNO_MIN = -19
};

/* One-line description of err; never NULL, "unknown error" if unknown. */
HEED_API const char *heed_strerror(int err);

/* Symbolic name of err, e.g. "HEED_EINVAL"; "HEED_UNKNOWN" if unknown. */
HEED_API const char *heed_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif /* HEED_ERROR_H */

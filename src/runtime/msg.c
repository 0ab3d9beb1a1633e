/* msg.c - messages: pooled 64-byte records with two words and a buffer. */
#include "common/alloc.h"
#include "runtime/internal.h"

int heed_msg_alloc(heed_runtime *rt, heed_msg **mp, uint32_t type) {
  if (rt == NULL || mp == NULL)
    return HEED_EINVAL;
  heed__loop *l = heed__here(rt);
  heed_msg *m = l != NULL ? heed__cache_get(&rt->msg_pool, &l->msg_cache)
                          : heed__pool_get(&rt->msg_pool, NULL);
  if (m == NULL) {
    *mp = NULL;
    return HEED_ENOMEM;
  }
  m->rt = rt;
  m->to = 0;
  m->sender = 0;
  m->w[0] = 0;
  m->w[1] = 0;
  m->buf = NULL;
  m->type = type;
  m->flags = 0;
  *mp = m;
  return 0;
}

/* Returns m to the pool of its runtime, through the calling loop's cache
 * when the caller is one of that runtime's loop threads. */
void heed__msg_release(heed_msg *m) {
  heed_runtime *rt = m->rt;
  heed__loop *l = heed__here(rt);
  if (l != NULL)
    heed__cache_put(&rt->msg_pool, &l->msg_cache, m);
  else
    heed__pool_put(&rt->msg_pool, NULL, m);
}

void heed_msg_free(heed_msg *msg) {
  if (msg == NULL)
    return;
  if (msg->buf != NULL) {
    heed_buf_release(msg->buf);
    msg->buf = NULL;
  }
  heed__msg_release(msg);
}

uint32_t heed_msg_type(const heed_msg *msg) { return msg ? msg->type : 0; }

void heed_msg_set_type(heed_msg *msg, uint32_t type) {
  if (msg)
    msg->type = type;
}

uint64_t heed_msg_word(const heed_msg *msg, int i) {
  return (msg && (i == 0 || i == 1)) ? msg->w[i] : 0;
}

void heed_msg_set_word(heed_msg *msg, int i, uint64_t v) {
  if (msg && (i == 0 || i == 1))
    msg->w[i] = v;
}

heed_actor heed_msg_sender(const heed_msg *msg) {
  return (heed_actor){msg ? msg->sender : 0};
}

void heed_msg_set_buf(heed_msg *msg, heed_buf *buf) {
  if (msg == NULL)
    return;
  if (msg->buf != NULL && msg->buf != buf)
    heed_buf_release(msg->buf);
  else if (msg->buf == buf && buf != NULL)
    heed_buf_release(buf); /* msg already held one; take the caller's too */
  msg->buf = buf;
}

heed_buf *heed_msg_buf(const heed_msg *msg) { return msg ? msg->buf : NULL; }

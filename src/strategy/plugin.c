/*
 * plugin.c - loading strategies compiled outside heed.
 *
 * A plugin is a shared object exporting heed_strategy_plugin_v1(), which
 * returns its ops table. The handle is kept open for the life of the
 * process: the registry holds pointers into the plugin. Loading the same
 * file again is success (dlopen hands back the same object, whose ops are
 * registered already): a long-lived worker loads a run's plugins for
 * every run.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "strategy/builtin.h"

int heed_strategy_plugin_load(const char *path, char *err, size_t errlen) {
  if (!path || !path[0]) { /* dlopen("") would open the main program */
    snprintf(err, errlen, "no plugin path given");
    return HEED_EINVAL;
  }
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    snprintf(err, errlen, "cannot load strategy plugin %s: %s", path,
             why ? why : "unknown reason");
    return HEED_EIO;
  }
  union {
    void *p;
    heed_strategy_plugin_fn fn;
  } entry;
  entry.p = dlsym(h, HEED_STRATEGY_PLUGIN_SYMBOL);
  if (!entry.p) {
    snprintf(err, errlen,
             "strategy plugin %s does not export %s() (see docs/strategies.md)",
             path, HEED_STRATEGY_PLUGIN_SYMBOL);
    dlclose(h);
    return HEED_ESYMBOL;
  }
  const heed_strategy_ops *ops = entry.fn();
  if (!ops) {
    snprintf(err, errlen, "strategy plugin %s returned no strategy", path);
    dlclose(h);
    return HEED_EINVAL;
  }
  if (ops->abi != HEED_STRATEGY_ABI) {
    snprintf(err, errlen,
             "strategy plugin %s was built for strategy ABI %u, this heed "
             "has ABI %u: rebuild it against this heed",
             path, ops->abi, HEED_STRATEGY_ABI);
    dlclose(h);
    return HEED_EVERSION;
  }
  char why[384];
  if (heed__strategy_ops_check(ops, why, sizeof why) != 0) {
    snprintf(err, errlen, "strategy plugin %s: %s", path, why);
    dlclose(h);
    return HEED_EINVAL;
  }
  if (ops->name && heed_strategy_find(ops->name) == ops) {
    dlclose(h); /* drops the reference this call added */
    return 0;
  }
  int rv = heed_strategy_register(ops);
  if (rv != 0) {
    snprintf(err, errlen, "strategy plugin %s: cannot register '%s': %s",
             path, ops->name ? ops->name : "(unnamed)", heed_strerror(rv));
    dlclose(h);
    return rv;
  }
  return 0; /* h stays open: the registry points into it */
}

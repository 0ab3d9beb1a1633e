#!/usr/bin/env bash
# meson install --destdir, then an external program built against the
# installed heed with pkg-config: shared, and with --static against
# libheed.a (issue 13). heed.pc carries no absolute library path; docs and
# examples are installed. Usage: install.sh MESON BUILD_DIR
set -euo pipefail
meson=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$meson" install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >/dev/null
pc=$(find "$tmp/root" -name heed.pc | head -1)
[ -n "$pc" ] || { echo "no heed.pc installed" >&2; exit 1; }
if grep -E '^Libs' "$pc" | grep -q '/[^ ]*\.so'; then
  echo "heed.pc links an absolute path:" >&2; cat "$pc" >&2; exit 1
fi
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$tmp/root
libdir=$(dirname "$(dirname "$pc")")
doc=$(find "$tmp/root" -type d -path '*/doc/heed' | head -1)
for f in README.md docs/runs.md docs/strategies.md examples/xor.c \
         examples/strategy-plugin; do
  [ -e "$doc/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
cat >"$tmp/prog.c" <<'C'
#include <heed/heed.h>
#include <stdio.h>
#include <string.h>
int main(void) {
  heed_runtime *rt = NULL;
  heed_runtime_opts o = {.threads = 1};
  if (heed_runtime_new(&rt, &o) != 0)
    return 1;
  heed_runtime_free(rt);
  printf("%s %s\n", HEED_VERSION, heed_err_name(HEED_ENOMEM));
  return strcmp(heed_err_name(HEED_ENOMEM), "HEED_ENOMEM") != 0;
}
C
cc=${CC:-cc}
# shared
"$cc" -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs heed)
LD_LIBRARY_PATH=$libdir "$tmp/prog" | grep -c HEED_ENOMEM >/dev/null
# static: libheed.a, and everything it needs from pkg-config --static
[ -f "$libdir/libheed.a" ] || { echo "no libheed.a installed" >&2; exit 1; }
"$cc" -o "$tmp/prog-static" "$tmp/prog.c" $(pkg-config --cflags heed) \
  -Wl,-Bstatic -lheed -Wl,-Bdynamic \
  $(pkg-config --static --libs heed | sed 's/ -lheed / /; s/^-lheed //') \
  -L"$libdir"
if ldd "$tmp/prog-static" | grep -q libheed; then
  echo "the --static build still needs libheed.so" >&2; exit 1
fi
"$tmp/prog-static" | grep -c HEED_ENOMEM >/dev/null
echo "install ok: $(pkg-config --modversion heed)"

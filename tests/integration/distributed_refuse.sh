#!/usr/bin/env bash
# A worker's refusal reaches the coordinator at once: `heed train` exits
# non-zero within 2 s printing the worker's reason (plugins not allowed;
# a secret on one side only or a different one), and the worker logs it
# too. The same secret on both sides trains; a worker will not listen on
# a public address without a secret; --strategy-plugin '' is refused.
# Usage: distributed_refuse.sh HEED DATA_DIR PLUGIN.so
set -euo pipefail
heed=$1 data=$2 plugin=$3
tmp=$(mktemp -d)
. "$(dirname "$0")/data.sh"
wpid=
cleanup() {
  local rc=$?
  [ -n "$wpid" ] && kill "$wpid" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then # what the workers said, for the failure
    for f in "$tmp"/w*.log; do [ -f "$f" ] && { echo "== $f" >&2; cat "$f" >&2; }; done
  fi
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
use_data digits "$data" "$tmp"
common=("${data_args[@]}" --hidden 16 --batch 16 --seed 2 --max-steps 20
        --quiet --cluster "$tmp/cluster")

start_worker() { # LOG ARGS...
  local log=$1
  shift
  "$heed" worker --listen "ipc://$tmp/w" "$@" 2>"$log" &
  wpid=$!
  for _ in $(seq 50); do [ -S "$tmp/w" ] && break; sleep 0.1; done
}
stop_worker() {
  kill "$wpid"
  wait "$wpid" || { echo "worker did not exit cleanly" >&2; exit 1; }
  wpid=
  rm -f "$tmp/w"
}
# expect_refusal WORKER_LOG WANT [train flags...]: non-zero, < 2 s, reason
expect_refusal() {
  local wlog=$1 want=$2 t0 ms rc=0
  shift 2
  t0=$(date +%s%N)
  "$heed" train "${common[@]}" "$@" >/dev/null 2>"$tmp/err" || rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$rc" -ne 0 ] || { echo "train exited 0 though refused ($want)" >&2; exit 1; }
  [ "$ms" -lt 2000 ] || { echo "refusal took $ms ms ($want):" >&2; cat "$tmp/err" >&2; exit 1; }
  grep -q "refused the run: .*$want" "$tmp/err" ||
    { echo "coordinator did not print '$want':" >&2; cat "$tmp/err" >&2; exit 1; }
  sleep 0.2
  grep -q "refused run .*$want" "$wlog" ||
    { echo "worker did not log '$want':" >&2; cat "$wlog" >&2; exit 1; }
  echo "refused in $ms ms: $want"
}
printf 'coordinator ipc://%s/c\nworker ipc://%s/w\n' "$tmp" "$tmp" >"$tmp/cluster"

# Plugins.
start_worker "$tmp/w1.log"
expect_refusal "$tmp/w1.log" "does not load plugins (start it with --allow-plugins)" \
  --strategy-plugin "$plugin" --strategy signbid:scale=1
"$heed" train "${common[@]}" >/dev/null # and it still serves
stop_worker

# Secrets.
printf 'a shared secret of this test run\n' >"$tmp/secret"
printf 'another secret, not the same one\n' >"$tmp/other"
chmod 600 "$tmp/secret" "$tmp/other"
start_worker "$tmp/w2.log" --secret-file "$tmp/secret"
expect_refusal "$tmp/w2.log" "authentication required"
expect_refusal "$tmp/w2.log" "authentication failed" --secret-file "$tmp/other"
"$heed" train "${common[@]}" --secret-file "$tmp/secret" >/dev/null
HEED_SECRET="a shared secret of this test run" "$heed" train "${common[@]}" >/dev/null
stop_worker
start_worker "$tmp/w3.log"
expect_refusal "$tmp/w3.log" "authentication impossible" --secret-file "$tmp/secret"
stop_worker
echo "the same secret trains; a missing or different one is refused"

# A worker on a public address wants a secret (or --insecure).
rc=0
"$heed" worker --listen tcp://0.0.0.0:0 2>"$tmp/err" || rc=$?
[ "$rc" -ne 0 ] && grep -q "without a shared secret.*--insecure" "$tmp/err" ||
  { echo "a worker listened on 0.0.0.0 without a secret" >&2; cat "$tmp/err" >&2; exit 1; }
chmod 644 "$tmp/secret"
rc=0
"$heed" worker --listen "ipc://$tmp/w" --secret-file "$tmp/secret" 2>"$tmp/err" || rc=$?
[ "$rc" -ne 0 ] && grep -q "group or others may read it" "$tmp/err" ||
  { echo "a readable secret file was accepted" >&2; exit 1; }

# An empty plugin path names no plugin (dlopen("") is the program itself).
rc=0
"$heed" train "${common[@]}" --strategy-plugin '' 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "no plugin path given" "$tmp/err" ||
  { echo "--strategy-plugin '' was not refused:" >&2; cat "$tmp/err" >&2; exit 1; }
for flags in "--workers 2 --launcher mpi" "--join tcp://127.0.0.1:1"; do
  rc=0
  # shellcheck disable=SC2086
  "$heed" train "${data_args[@]}" $flags 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 2 ] && grep -q -e "exclude each other" -e "goes with --launcher" "$tmp/err" ||
    { echo "train $flags was not refused:" >&2; cat "$tmp/err" >&2; exit 1; }
done
echo "public address without a secret, readable secret file, empty plugin path, clashing flags: refused"

#!/usr/bin/env bash
# The demo: a shell script that counts once a second (the example from the seeds) is dumped,
# killed, and restored with its original PIDs; its log goes on from the count where it stopped.
# Runs as root on this machine; cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
godwit() { node bin/godwit.js "$@"; }

work=$(mktemp -d /tmp/godwit-demo.XXXXXX)
cleanup() { [ -n "${pid:-}" ] && pkill -9 -s "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cat >"$work/counter.sh" <<'SCRIPT'
#!/bin/bash
i=0
while :; do
  i=$((i+1))
  echo "$i $(date +%T.%N)"
  sleep 1
done
SCRIPT
chmod +x "$work/counter.sh"

echo "== godwit check"
godwit check || true
echo
echo "== starting the counter: setsid ./counter.sh < /dev/null &> log &"
( cd "$work" && exec setsid "$work/counter.sh" </dev/null &>"$work/log" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- 10>&- 251>&- & )
sleep 3.5
pid=$(pgrep -f "$work/counter.sh" | head -1)
echo "counter runs as PID $pid; its log so far:"
cat "$work/log"
echo
echo "== godwit dump -t $pid -D $work/img"
godwit dump -t "$pid" -D "$work/img"
echo "the counter is gone: $(ps -p "$pid" -o stat= 2>/dev/null | grep -qv Z && echo still running || echo not running)"
echo
echo "== godwit inspect $work/img"
godwit inspect "$work/img"
echo
sleep 1
echo "== godwit restore -D $work/img -d"
godwit restore -D "$work/img" -d
sleep 3
echo
echo "== the log after restore (the count goes on where it stopped):"
cat "$work/log"
last=$(tail -1 "$work/log" | cut -d' ' -f1)
lines=$(wc -l <"$work/log")
if [ "$last" = "$lines" ]; then echo "OK: $lines lines, no count lost or repeated"; else echo "FAILED: last count $last, $lines lines"; exit 1; fi

#!/bin/bash
# The example from the seeds: a script that counts, one line a second, with the date. After a dump
# and restore its log must go on from the count where it stopped (no READY line: the harness knows
# its PID from the shell that starts it).
i=0
while :; do
  i=$((i + 1))
  echo "$i $(date +%s.%N)"
  sleep 1
done

#!/usr/bin/env bash
# `rws run` in N shards with GNU parallel, on this machine or over ssh, then `rws merge`:
#
#   examples/parallel/rws-parallel.sh share/season-2024 results/season-2024 8 [rws run options...]
#   PARALLEL_HOSTS=node1,node2 examples/parallel/rws-parallel.sh ...   # over ssh: rws and both paths on every host
#
# The joblog lets a second run with the same arguments redo only the shards that failed
# (--resume-failed), each from its own journal (--resume).
set -euo pipefail

usage='usage: rws-parallel.sh INPUT_DIR OUT_DIR N [rws run options...]'
input=${1:?$usage}
out=${2:?$usage}
n=${3:?$usage}
shift 3
mkdir -p "$out/shards"
hosts=()
[ -n "${PARALLEL_HOSTS:-}" ] && hosts=(-S "$PARALLEL_HOSTS")

# One command line, its paths quoted for the shell that runs it (here or on a host over ssh).
# Exit 3 means some files could not be read: they are in the shard's results, the shard succeeded.
extra=''
(($#)) && extra=$(printf '%q ' "$@")
cmd="rws run --shard {}/$n --resume --quiet --json $(printf '%q' "$out/shards")/shard-{}.json $extra$(printf '%q' "$input") || [ \$? -eq 3 ]"
parallel ${hosts[@]+"${hosts[@]}"} --jobs "${PARALLEL_JOBS:-$n}" --joblog "$out/shards.joblog" --resume-failed "$cmd" ::: $(seq 1 "$n")

rws merge "$out/merged" "$out"/shards/shard-*.json || [ $? -eq 3 ]

#!/usr/bin/env bash
# Retrains some conditions' signatures with `rws train` on the shipped model, the path a user trains
# their own model's signatures by (issue 12), and measures them the way the recipe does:
#   native-models/recipe/retrain.sh [--smoke] CONDITION...      (npm run recipe:retrain -- CONDITION...)
# For each condition: the shipped signature, trained on every generator family of the condition; and one
# signature per family lineage with that lineage left out, for the leave-one-family-out figures. Then
# rws eval over those conditions' families (the left-out signatures on the families left out), rws eval
# --mix auto over every condition (Auto's candidates changed), and LOG.md amended (amend-log.py).
#
# Why this path and not the recipe's torch fine-tune: the full recipe needs its work folder (θ_clean
# as a torch checkpoint) and about 3 h on 2 cores; θ_clean cannot be re-made bit for bit (LOG.md), so
# a signature for the shipped model.onnx is trained on model.onnx itself. `rws train` runs that ONNX
# graph in torch (main/engine/train), with its BatchNorm put back while training.
#   --smoke   a few hundred images, into a separate work folder; changes nothing in the repository.
# Environment: RWS_FASHION_MNIST (default /usr/share/datasets/fashion-mnist), RWS_RECIPE_WORK (default
# $TMPDIR/rws-retrain; a signature already there is not trained again), RWS_RECIPE_JOBS (trainings at
# once, one torch thread each; default 2), RWS_TEST_SAMPLES (rws eval's images, default 2000).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SMOKE=0; TRAIN_ONLY=0; LABELS=(); PACK=$ROOT/native-models/fashion-mnist; SIGS=$ROOT/signatures/fashion-mnist; LOFO=
while [[ "${1:-}" == --* ]]; do
  case $1 in
    --smoke) SMOKE=1 ;;
    # run.sh's use: train into --sigs and --lofo for --pack's model, and leave the pack, the measuring
    # and LOG.md to run.sh.
    --train-only) TRAIN_ONLY=1 ;;
    --pack) PACK=$2; shift ;;
    --sigs) SIGS=$2; shift ;;
    --lofo) LOFO=$2; shift ;;
    # Targets from the clean model's own predictions instead of the labels (issue 12's comparison:
    # with --train-only, into other --sigs and --lofo folders).
    --labels) LABELS=(--labels "$2"); shift ;;
    *) echo "retrain.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
(( $# )) || { echo "usage: native-models/recipe/retrain.sh [--smoke] CONDITION..." >&2; exit 2; }
# The pack ships labelled signatures, and LOG.md describes them: other targets only train (into other folders).
if (( ${#LABELS[@]} )) && { (( ! TRAIN_ONLY )) || [[ $SIGS -ef $ROOT/signatures/fashion-mnist ]]; }; then
  echo "retrain.sh: --labels needs --train-only and a --sigs folder other than the pack's (and a --lofo one)" >&2; exit 2
fi
FASHION=${RWS_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
WORK=${RWS_RECIPE_WORK:-${TMPDIR:-/tmp}/rws-retrain}
JOBS=${RWS_RECIPE_JOBS:-2}
TEST=${RWS_TEST_SAMPLES:-2000}
AUTO_TEST=1000
LIMIT=()
if (( SMOKE )); then
  WORK=${WORK}-smoke; TEST=200; AUTO_TEST=100; LIMIT=(--limit 600 --epochs 1)
  if (( ! TRAIN_ONLY )); then
    mkdir -p "$WORK/pack/signatures"; cp -r "$PACK"/. "$WORK/pack/"; cp "$SIGS"/*.rws.safetensors "$WORK/pack/signatures/"
    PACK=$WORK/pack; SIGS=$PACK/signatures
  fi
fi
LOFO=${LOFO:-$WORK/lofo}
# shellcheck source=settings.sh
source native-models/recipe/settings.sh
mkdir -p "$WORK/ship" "$LOFO" "$WORK/logs"
START=$(date +%s)
log() { echo "[$(( $(date +%s) - START ))s] $*" | tee -a "$WORK/retrain.log"; }
RWS="node bin/rws.js"

# The lineages of a condition (rws corrupt --families --json).
lineages() { $RWS corrupt --families --json | "$PY" -c 'import json,sys; print(" ".join(dict.fromkeys(f["lineage"] for f in json.load(sys.stdin)[sys.argv[1]])))' "$1"; }

train() { # condition lineage-left-out|"" out-file
  local c=$1 l=$2 out=$3
  [[ -f $out ]] && return 0
  local dir; dir=$(mktemp -d "$WORK/run.XXXXXX")
  # shellcheck disable=SC2046
  local cmd=($RWS train --pack "$PACK" --data "$FASHION" --condition "$c" --id "$c" --layers $(sig_layers "$c") --clean-share $(clean_share "$c")
    $(listed "$c" "${NUISANCE[@]}" && echo --nuisances "$(nuisance_reach "$c")") ${l:+--exclude-family "$l"} --no-add --threads 1 --out "$dir" "${LABELS[@]}" "${LIMIT[@]}")
  log "train $c${l:+ without $l}"
  ( "${cmd[@]}" > "$WORK/logs/$c${l:+@$l}.log" 2>&1 && mv "$dir/$c.rws.safetensors" "$out" && rm -rf "$dir" ) &
  while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n; done
}
for c in "$@"; do
  train "$c" "" "$WORK/ship/$c.rws.safetensors"
  for l in $(lineages "$c"); do train "$c" "$l" "$LOFO/$c@$l.rws.safetensors"; done
done
while (( $(jobs -rp | wc -l) )); do wait -n; done

# Into the pack: the new files (int4 copies of the old ones go), their hashes, a new minor version
# (once: not again when nothing changed).
for c in "$@"; do
  cp "$WORK/ship/$c.rws.safetensors" "$SIGS/$c.rws.safetensors"
  rm -f "$SIGS/$c-int4.rws.safetensors"
done
(( TRAIN_ONLY )) && { log "trained $*"; exit 0; }
"$PY" - "$PACK/pack.json" "$SIGS" "$@" <<'PY'
import hashlib, json, sys
file, sigs, conds = sys.argv[1], sys.argv[2], sys.argv[3:]
p = json.load(open(file))
changed = False
for s in p['signatures']:
    if s['id'] in conds:
        sha = hashlib.sha256(open(f'{sigs}/{s["id"]}.rws.safetensors', 'rb').read()).hexdigest()
        changed |= sha != s['sha256']
        s['sha256'] = sha
if changed:  # a run resumed after this step does not bump it twice
    major, minor, _ = p['version'].split('.')
    p['version'] = f'{major}.{int(minor) + 1}.0'
    open(file, 'w').write(json.dumps(p, indent=2) + '\n')
print(f'{file}: version {p["version"]}')
PY
# The pair mixes with a retrained part (rain + low light for rain), measured again with the new signatures.
node dist/native-models/recipe/remix.js --pack "$PACK" --signatures "$SIGS" --data "$FASHION" --retrained "$(IFS=,; echo "$*")" \
  $( (( SMOKE )) && echo --images 200) | tee "$WORK/remix.md"

# Measured as the recipe measures (step 9): each retrained condition on its own (a rws eval each, JOBS at
# once, one thread each), and Auto over every condition (its candidates changed), started first: the longest.
measure() { # json-file log-name rws-eval-arguments...
  local out=$1 name=$2; shift 2
  [[ -f $out ]] && return 0
  log "rws eval $name"
  ( $RWS eval --pack "$PACK" --data "$FASHION" --threads 1 "$@" --json "$out.tmp" > "$WORK/logs/eval-$name.log" 2>&1 && mv "$out.tmp" "$out" ) &
  while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n; done
}
measure "$WORK/auto-eval.json" auto --mix auto --families all --severities 1-5 --limit "$AUTO_TEST"
evals=()
for c in "$@"; do
  measure "$WORK/rws-eval-$c.json" "$c" --conditions "$c" --limit "$TEST" --families all --lofo "$LOFO"
  evals+=(--eval "$WORK/rws-eval-$c.json")
done
while (( $(jobs -rp | wc -l) )); do wait -n; done
LOG=native-models/recipe/LOG.md
(( SMOKE )) && { cp "$LOG" "$WORK/LOG.md"; LOG=$WORK/LOG.md; }
how=()
for c in "$@"; do how+=("$c ($(sig_layers "$c") convs, $(awk -v s="$(clean_share "$c")" 'BEGIN { printf "%d", s * 100 }')% clean$(listed "$c" "${NUISANCE[@]}" && echo ", $(nuisance_reach "$c") nuisances"))"); done
"$PY" native-models/recipe/amend-log.py $( (( SMOKE )) && echo --smoke) --log "$LOG" "${evals[@]}" --auto "$WORK/auto-eval.json" --remix "$WORK/remix.md" \
  --note "with \`retrain.sh\` ($(date -u +%Y-%m-%d); $(( ($(date +%s) - START) / 60 )) min in the sitting that finished it): $(IFS=';'; echo "${how[*]}" | sed 's/;/; /g'). Each trained by \`rws train\` on the shipped model.onnx (Fashion-MNIST's 60,000 training images less 1,000 held back, every family and strengths 1–5 drawn per image, \`rws train\`'s default passes: 3 for the conditions at night and low light, else 2); left-out signatures likewise, one per lineage. Their rows below are new, and so is Auto's section (measured again after each retraining); the robust figures and every torch table (per condition, peers' \"patched\", quantisation, extraction, composition, transfer, training stages) are still the full run's and describe its torch signatures for these conditions."
log "done"

#!/usr/bin/env bash
# genbench on a device machine (a GPU or TPU with no network), in one command:
#
#   bash benchmarks/device/run.sh [--backend gpu|cuda|tpu|cpu] [--quick] [--out DIR]
#                                 [--seeds N] [--budget SECONDS]
#
# 1. install: the wheels in benchmarks/device/wheels that the python lacks (jsonschema and
#    its dependencies), then genbench from this working tree, without dependencies and
#    without the network, into a scratch folder (PYTHONPATH). If that build fails, genbench
#    runs from the working tree instead (noted in the summary).
# 2. environment: versions and jax.devices() (environment.json); no device of the
#    backend's platform stops the run here.
# 3. suite: `genbench suite smoke` (--quick: benchmarks/device/quick.toml) on the backend.
# 4. benchmarks: genbench's side of the step benchmarks (benchmarks/test_*_step.py
#    -k test_genbench_; the PyTorch peers are not run), one pytest per file (--quick:
#    the VAE's inner-50 step only).
# 5. summary.md, always, also after a failure.
#
# The output folder (default: $OUT if set, which the device tool brings back, else
# runs/device) gets at most 7 files, so that all of them come back from the device tool:
# summary.md, run.log, environment.json, table.md, bench.json, records.tar.gz (the suite's
# records, in smoke/) and, for the full suite, compare.md (against results/smoke).
# Each phase runs under a share of --budget (default 285 s; 900 s with --quick on CPU), so
# the whole run ends in time; a phase stopped at its limit counts as failed and keeps what
# it wrote. Exit status: 0 when every phase passed, 1 otherwise, 2 for bad arguments.
# PYTHON names the interpreter (default python3: on the device image, the one with jax).
set -uo pipefail

usage() {
  sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# //'
}

die_usage() {
  echo "run.sh: error: $1" >&2
  usage >&2
  exit 2
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
backend=gpu
quick=0
out="${OUT:-runs/device}"
seeds=""
budget=""
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) [ $# -ge 2 ] || die_usage "--backend needs a value"; backend="$2"; shift 2 ;;
    --backend=*) backend="${1#*=}"; shift ;;
    --quick) quick=1; shift ;;
    --out) [ $# -ge 2 ] || die_usage "--out needs a folder"; out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    --seeds) [ $# -ge 2 ] || die_usage "--seeds needs a number"; seeds="$2"; shift 2 ;;
    --seeds=*) seeds="${1#*=}"; shift ;;
    --budget) [ $# -ge 2 ] || die_usage "--budget needs seconds"; budget="$2"; shift 2 ;;
    --budget=*) budget="${1#*=}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die_usage "unknown argument '$1'" ;;
  esac
done
case "$backend" in
  cpu) platform=cpu ;;
  gpu | cuda) platform=cuda ;;
  tpu) platform=tpu ;;
  *) die_usage "--backend must be gpu, cuda, tpu or cpu, not '$backend'" ;;
esac
case "$seeds" in "" | [1-9] | [1-9][0-9]) ;; *) die_usage "--seeds must be a number >= 1" ;; esac
if [ -z "$budget" ]; then
  budget=285
  if [ "$quick" = 1 ] && [ "$backend" = cpu ]; then budget=900; fi
fi
case "$budget" in [1-9][0-9] | [1-9][0-9][0-9] | [1-9][0-9][0-9][0-9]) ;;
  *) die_usage "--budget must be 10 to 9999 seconds" ;;
esac
if [ -z "$seeds" ] && [ "$quick" = 0 ]; then seeds=1; fi # one seed of each run fits the budget

started="$(date +%s)"
deadline=$((started + budget))
py="${PYTHON:-python3}"
command -v "$py" >/dev/null || die_usage "no python interpreter '$py' (set PYTHON)"
mkdir -p "$out" || die_usage "cannot create the output folder '$out'"
out="$(cd "$out" && pwd)"
rm -f "$out"/{summary.md,run.log,environment.json,table.md,bench.json,compare.md,records.tar.gz}
work="$(mktemp -d)"
phases="$work/phases.tsv"
: >"$phases"
exec > >(tee "$out/run.log") 2>&1
tee_pid=$!
# At exit: let tee write the log's last lines, then drop the scratch folder.
trap 'exec >&- 2>&-; wait "$tee_pid"; rm -rf "$work"' EXIT

export PYTHONUNBUFFERED=1 JAX_PLATFORMS="$platform"
unset GENBENCH_WRITE_RESULTS # the benchmarks must not overwrite results/benchmarks/*_cpu.json

# phase NAME STATUS SECONDS NOTE: one line of the summary's phase table.
phase() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$phases"
  echo "== $1: $2 (${3} s)${4:+: $4}"
}

# left RESERVE: seconds until the deadline less RESERVE (at least 10).
left() {
  local s=$((deadline - $(date +%s) - $1))
  [ "$s" -lt 10 ] && s=10
  echo "$s"
}

# timed_status RC: ok, "failed (exit RC)" or "stopped at its time limit".
timed_status() {
  case "$1" in
    0) echo ok ;;
    124 | 137) echo "stopped at its time limit" ;;
    *) echo "failed (exit $1)" ;;
  esac
}

revision="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")"
echo "== genbench device run: backend $backend, quick $quick, budget ${budget}s, out $out"
echo "== working tree: $repo ($revision)"

# 1. install ---------------------------------------------------------------------------
t0="$(date +%s)"
site="$work/site"
note=""
status=ok
if ! "$py" -c "import jsonschema" 2>/dev/null; then
  wheels=$(ls "$repo"/benchmarks/device/wheels/*.whl | grep -v '/setuptools-')
  # shellcheck disable=SC2086
  if "$py" -m pip install --quiet --no-index --no-deps --no-compile --target "$site" $wheels; then
    note="wheels: $(echo "$wheels" | xargs -n1 basename | cut -d- -f1 | paste -sd' ')"
  else
    status="failed (wheels)"
  fi
fi
tools="$work/build-tools"
if ! "$py" -c "import setuptools, sys; sys.exit(int(setuptools.__version__.split('.')[0]) < 77)" \
  2>/dev/null; then
  "$py" -m pip install --quiet --no-index --no-deps --target "$tools" \
    "$repo"/benchmarks/device/wheels/setuptools-*.whl || true
fi
if PYTHONPATH="$tools${PYTHONPATH:+:$PYTHONPATH}" "$py" -m pip install --quiet --no-index \
  --no-deps --no-build-isolation --no-compile --target "$site" "$repo" >"$work/pip.log" 2>&1; then
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  note="genbench installed${note:+; $note}"
else
  cat "$work/pip.log"
  export PYTHONPATH="$site:$repo${PYTHONPATH:+:$PYTHONPATH}"
  note="genbench from the working tree (its install failed: $(grep -v '^ ' "$work/pip.log" | tail -1))${note:+; $note}"
fi
phase install "$status" $(($(date +%s) - t0)) "revision $revision; $note"

# 2. environment -----------------------------------------------------------------------
t0="$(date +%s)"
if (cd "$work" && "$py" "$repo/benchmarks/device/report.py" environment "$out"); then
  phase environment ok $(($(date +%s) - t0)) "JAX_PLATFORMS=$platform"
  have_device=1
else
  phase environment "failed: no $platform device" $(($(date +%s) - t0)) "suite and benchmarks not run"
  have_device=0
fi

if [ "$have_device" = 1 ]; then
  # 3. suite ---------------------------------------------------------------------------
  t0="$(date +%s)"
  suite=smoke
  if [ "$quick" = 1 ]; then suite="$repo/benchmarks/device/quick.toml"; fi
  # The benchmarks keep a third of the budget (at least 60 s), the summary 15 s.
  reserve=$((budget / 3 > 60 ? budget / 3 : 60))
  (cd "$work" && timeout -k 10 "$(left $((reserve + 15)))" "$py" -m genbench suite "$suite" \
    --backend "$backend" --out "$work/smoke" ${seeds:+--seeds "$seeds"})
  rc=$?
  records=$(ls "$work"/smoke/*.json 2>/dev/null | wc -l)
  phase suite "$(timed_status $rc)" $(($(date +%s) - t0)) "$(basename "$suite" .toml): $records records"
  if [ "$records" -gt 0 ]; then
    (cd "$work" && "$py" -m genbench table "$work/smoke" >"$out/table.md")
    if [ "$suite" = smoke ] && [ -d "$repo/results/smoke" ]; then
      (cd "$work" && "$py" -m genbench compare "$repo/results/smoke" "$work/smoke" >"$out/compare.md")
    fi
    tar -czf "$out/records.tar.gz" --exclude=.checkpoints -C "$work" smoke
  fi

  # 4. step benchmarks -------------------------------------------------------------------
  files="test_vae_step.py test_gan_step.py test_transformer_step.py"
  select=test_genbench_
  if [ "$quick" = 1 ]; then files="test_vae_step.py" select="test_genbench_ and inner50"; fi
  for file in $files; do
    t0="$(date +%s)"
    name="${file#test_}"
    name="${name%.py}"
    (cd "$repo" && timeout -k 10 "$(left 15)" "$py" -m pytest "benchmarks/$file" -k "$select" \
      -p no:cacheprovider -q -W default --benchmark-json "$work/bench-$name.json")
    rc=$?
    phase "benchmark $name" "$(timed_status $rc)" $(($(date +%s) - t0)) ""
  done
  "$py" "$repo/benchmarks/device/report.py" bench "$out" "$work"/bench-*.json
fi

# 5. summary -----------------------------------------------------------------------------
"$py" "$repo/benchmarks/device/report.py" summary "$out" --phases "$phases" --started "$started" \
  --command "bash benchmarks/device/run.sh --backend $backend$([ "$quick" = 1 ] && echo " --quick")${seeds:+ --seeds $seeds} --budget $budget"
if cut -f2 "$phases" | grep -qv '^ok$'; then
  echo "== device run FAILED after $(($(date +%s) - started)) s; see $out/summary.md"
  exit 1
fi
echo "== device run passed in $(($(date +%s) - started)) s; see $out/summary.md"

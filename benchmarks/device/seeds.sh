#!/usr/bin/env bash
# Seeds in parallel on a device machine (issue 13), and what the first GPU run left out:
#
#   bash benchmarks/device/seeds.sh [--backend gpu|cpu]
#
# 1. genbench from the working tree (PYTHONPATH), plus the wheels in
#    benchmarks/device/wheels that the python lacks.
# 2. benchmarks/test_parallel_seeds.py, step throughput only, one pytest per case (a case
#    stopped at its time limit loses only itself): S = 1 ... GENBENCH_MAX_SEEDS (100).
# 3. the smoke suite's runs missing from results/gpu/smoke (--resume into a copy of it).
# 4. genbench's side of the transformer step benchmark.
# Everything lands in $OUT (default runs/device-seeds): parallel_seeds_<backend>.json,
# smoke.tar.gz (the new records), transformer_step.json and seeds.log.
set -uo pipefail
backend=gpu
if [ "${1:-}" = "--backend" ]; then backend="${2:?--backend needs a value}"; fi
case "$backend" in gpu | cuda) platform=cuda ;; cpu) platform=cpu ;;
  *) echo "seeds.sh: error: --backend must be gpu or cpu" >&2; exit 2 ;; esac
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-runs/device-seeds}"
mkdir -p "$out" && out="$(cd "$out" && pwd)"
py="${PYTHON:-python3}"
work="$(mktemp -d)"
exec > >(tee "$out/seeds.log") 2>&1
if ! "$py" -c "import jsonschema" 2>/dev/null; then
  "$py" -m pip install --quiet --no-index --no-deps --no-compile --target "$work/site" \
    $(ls "$repo"/benchmarks/device/wheels/*.whl | grep -v '/setuptools-')
fi
export PYTHONPATH="$work/site:$repo" JAX_PLATFORMS="$platform" PYTHONUNBUFFERED=1
export GENBENCH_MAX_SEEDS="${GENBENCH_MAX_SEEDS:-100}"
cd "$repo" || exit 1
status=0
written="results/benchmarks/parallel_seeds_$([ "$platform" = cpu ] && echo cpu || echo gpu).json"
for case in ${SEED_CASES:-vae_digits_smoke gan_ring8_pacgan2 transformer_markov}; do
  started=$(date +%s)
  rm -f "$written"
  GENBENCH_WRITE_RESULTS=1 timeout -k 5 "${CASE_LIMIT:-110}" "$py" -m pytest -q -s \
    -p no:cacheprovider benchmarks/test_parallel_seeds.py -k "seeds_per_second and $case" \
    || status=1
  [ -f "$written" ] && cp "$written" "$work/seeds-$case.json"
  echo "== $case: $(($(date +%s) - started)) s"
done
"$py" - "$out/parallel_seeds_$backend.json" "$work"/seeds-*.json <<'PY'
import json, sys
merged = None
for path in sys.argv[2:]:
    part = json.load(open(path))
    merged = merged or {"environment": part["environment"], "benchmarks": {}}
    merged["benchmarks"].update(part["benchmarks"])
if merged:
    json.dump(merged, open(sys.argv[1], "w"), indent=1)
PY
if [ -d results/gpu/smoke ] && [ "$backend" != cpu ] && [ -z "${SKIP_REST:-}" ]; then
  cp -r results/gpu/smoke "$work/smoke"
  timeout -k 5 "${SUITE_LIMIT:-90}" "$py" -m genbench suite smoke --backend "$backend" --seeds 1 \
    --resume --out "$work/smoke" || status=1
  tar -czf "$out/smoke.tar.gz" --exclude=.checkpoints -C "$work" smoke
fi
[ -n "${SKIP_REST:-}" ] || timeout -k 5 "${BENCH_LIMIT:-80}" "$py" -m pytest -q -p no:cacheprovider \
  benchmarks/test_transformer_step.py -k test_genbench_ --benchmark-json "$out/transformer_step.json" \
  || status=1
rm -rf "$work"
echo "== seeds.sh: exit $status"
exit $status

#!/usr/bin/env bash
# One GPU check, at most 8 minutes on one GPU: installs the project, runs the CUDA tests, times
# HiCroPL's training step and evaluation in bf16 at batch 32 (50 classes and ImageNet's 1000), the
# authors' HiCroPL code at the same shapes in its fp16 when a checkout is given, and writes one JSON
# (images/s, step time, peak GPU memory, fraction of the GPU's bf16 peak inside the encoders).
#
#   bash benchmarks/gpu_check.sh [--authors-repo PATH] [--out DIR] [--dry-run] [--no-install]
#
# --dry-run runs the same steps on the CPU at toy shapes (tiny widths, 32 px), to check the plumbing
# on a machine without a GPU: the CUDA tests then skip, and the JSON says "dry_run": true.
# --no-install leaves the environment alone and puts src/ on PYTHONPATH instead.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="$root/gpu_check_out"
authors_repo=""
dry_run=0
install=1
python="${PYTHON:-python}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --authors-repo) authors_repo="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --no-install) install=0; shift ;;
    -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
log="$out/gpu_check.log"
: > "$log"
started=$SECONDS

say() { echo "[gpu_check $((SECONDS - started))s] $*" | tee -a "$log"; }

# 1. Install (no dependencies fetched when torch and open_clip are already there: the GPU hosts are offline).
if [[ $install -eq 0 ]]; then
  say "install skipped (--no-install)"
elif "$python" -c "import torch, open_clip" 2>/dev/null; then
  "$python" -m pip install --no-deps --no-build-isolation -e "$root" >>"$log" 2>&1 || say "pip install -e failed; using src/ on PYTHONPATH"
else
  "$python" -m pip install -e "$root" >>"$log" 2>&1
fi
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"

# Hard caps (seconds): 120 for the tests and 85 per timed run keep the whole check within 8 minutes
# with a quick install; a dry run on a CPU gets ten times as long.
tests_cap=120
run_cap=85
if [[ $dry_run -eq 1 ]]; then
  tests_cap=1200
  run_cap=850
  device=cpu
  shapes=(--layers 2 --vision-width 64 --text-width 64 --image 32 --n-ctx 2 --depth 2 --boundary 1 --threads 2)
  reps=(--warmup 0 --reps 1)
  classes_small=10
  classes_imagenet=100
  authors_shapes=(--image 32 --threads 2 --n-ctx 2 --depth 2 --boundary 1)
  authors_device=(--device cpu)
else
  "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "gpu_check.sh: no CUDA GPU here; use --dry-run" >&2; exit 2; }
  device=cuda
  shapes=()
  reps=(--warmup 2 --reps 5)
  classes_small=50
  classes_imagenet=1000
  authors_shapes=()
  authors_device=(--device cuda --precision fp16)
fi

# 2. The CUDA tests (they skip cleanly without a GPU).
say "cuda tests"
set +e
timeout "$tests_cap" "$python" -m pytest -q -p no:cacheprovider -m cuda "$root/tests/cuda" >>"$log" 2>&1
tests_exit=$?
set -e
say "cuda tests exit code $tests_exit"

# 3. HiCroPL in bf16 at batch 32, at 50 and at 1000 classes.
step() {  # step CLASSES JSON
  timeout "$run_cap" "$python" "$here/bench_step.py" --device "$device" --precision bf16 --batch 32 --eval-batch 64 \
    --classes "$1" --skip-naive "${shapes[@]}" "${reps[@]}" --json "$2" >>"$log" 2>&1
}
say "bench_step bf16, batch 32, $classes_small classes"
step "$classes_small" "$out/step_bf16_b32.json" || say "bench_step failed (see $log)"
say "bench_step bf16, batch 32, $classes_imagenet classes"
step "$classes_imagenet" "$out/step_bf16_b32_imagenet.json" || say "bench_step at ImageNet's classes failed (see $log)"

# 4. The authors' HiCroPL at the same shapes, in their fp16 (fp32 on the CPU in a dry run).
authors_args=()
if [[ -n "$authors_repo" ]]; then
  authors() {  # authors CLASSES JSON
    timeout "$run_cap" "$python" "$here/bench_authors.py" --method hicropl --repo "$authors_repo" --batch 32 --eval-batch 64 \
      --classes "$1" "${authors_device[@]}" "${authors_shapes[@]}" "${reps[@]}" --json "$2" >>"$log" 2>&1
  }
  say "authors' HiCroPL, batch 32, $classes_small classes"
  authors "$classes_small" "$out/authors_b32.json" || say "authors' run failed (see $log)"
  say "authors' HiCroPL, batch 32, $classes_imagenet classes"
  authors "$classes_imagenet" "$out/authors_b32_imagenet.json" || say "authors' run at ImageNet's classes failed (see $log)"
  authors_args=(--authors "$out/authors_b32.json" --authors-imagenet "$out/authors_b32_imagenet.json")
else
  say "no --authors-repo: the authors' code is not timed"
fi

# 5. One JSON.
"$python" "$here/gpu_summary.py" --step "$out/step_bf16_b32.json" --step-imagenet "$out/step_bf16_b32_imagenet.json" \
  "${authors_args[@]}" --tests-exit "$tests_exit" --out "$out/gpu_check.json" >>"$log" 2>&1
say "done in $((SECONDS - started)) s: $out/gpu_check.json"

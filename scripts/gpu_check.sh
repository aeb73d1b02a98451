#!/usr/bin/env bash
# The GPU check of issue 11, one table: the device; training images/s of the small CNN
# (180 px) and a frozen MobileNetV2 (224 px, weights=null) with augment none and
# flip_rot_zoom, in the model or in tf.data, mixed precision off/on, XLA off/on; the input
# pipeline's ratio to the compute limit; a 3-job sweep's wall time; and the reference study
# (experiment=flowers_overfitting on the flower photos, 180 px, 30 epochs, both policies;
# target <= 60 s on one H100-class GPU). Under 8 minutes on one GPU.
#
# Installs nothing beyond `make` (which builds .venv once). The measuring is in
# scripts/bench.py (--section gpu); extra arguments go to it (later ones win).
#
#   scripts/gpu_check.sh [--quick] [--data DIR] [bench.py arguments...]
#
#   --quick      small sizes (16 photos a class, small images, 1-2 epochs): proves the
#                script works, on a CPU in a few minutes; the figures mean little
#   --data DIR   the photo folder (default ../shared/data/flower_photos)
#   PY=python    use this Python instead of .venv's (then make is not called)
#
# On a bare GPU box without TensorFlow (issue 18): Keras's JAX backend, TensorFlow-free,
# installed offline from scripts/gpu_bundle.sh's folder (carried with the checkout), the
# table measured by scripts/gpu_table.py, each row written to $OUT/gpu_table.md (else
# ./gpu_table.md) as soon as it is measured:
#
#   scripts/gpu_check.sh --keras-backend jax [--quick] [--bundle DIR] [--data DIR]
#
#   --bundle DIR  the bundle (default gpu_bundle/: DIR/wheels, DIR/flowers)
#   PY=python     the box's Python (default python3), which has JAX
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
data=../shared/data/flower_photos
keras_backend=tensorflow
bundle=gpu_bundle
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1; shift ;;
        --data) data="$2"; shift 2 ;;
        --keras-backend) keras_backend="$2"; shift 2 ;;
        --bundle) bundle="$2"; shift 2 ;;
        *) break ;;
    esac
done
if [[ $keras_backend == jax ]]; then
    PY=${PY:-python3}
    [[ $data == ../shared/data/flower_photos ]] && data=$bundle/flowers
    [[ -d "$data" ]] || { echo "gpu_check: no photo folder at $data (scripts/gpu_bundle.sh --make-data)" >&2; exit 2; }
    site=$(mktemp -d)
    trap 'rm -rf "$site"' EXIT
    start=$SECONDS
    # Offline, no dependency resolution: the bundle holds exactly what the box lacks.
    "$PY" -m pip install --quiet --no-index --no-deps --target "$site" "$bundle"/wheels/*.whl
    echo "gpu_check: installed $(ls "$bundle"/wheels | wc -l) wheels in $((SECONDS - start)) s"
    export PYTHONPATH="$site:$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
    out=${OUT:-.}/gpu_table.md
    echo "# GPU check (Keras on JAX), $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname)"
    command -v nvidia-smi >/dev/null &&
        echo "device: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
    "$PY" scripts/gpu_table.py --data "$data" --out "$out" $([[ $quick == 1 ]] && echo --quick) "$@"
    echo "gpu_check: $((SECONDS - start)) s (target: under 5 minutes on one GPU); table in $out"
    exit 0
fi
if [[ -z "${PY:-}" ]]; then
    make --no-print-directory .venv/.installed-stamp
    PY=.venv/bin/python
fi
[[ -d "$data" ]] || { echo "gpu_check: no photo folder at $data (use --data DIR)" >&2; exit 2; }

echo "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname)"
if command -v nvidia-smi >/dev/null; then
    echo "device: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
else
    echo "device: no nvidia-smi; $(nproc) CPU cores"
fi
"$PY" -c 'import tensorflow as tf; print("TensorFlow", tf.__version__, "sees", tf.config.list_physical_devices())' 2>/dev/null

if [[ $quick == 1 ]]; then
    # 16 photos of each class, linked into a temporary folder.
    subset=$(mktemp -d)
    trap 'rm -rf "$subset"' EXIT
    for class_dir in "$data"/*/; do
        class=$(basename "$class_dir")
        mkdir "$subset/$class"
        # awk, not head: head would stop reading, and sort, cut off, fail the pipeline.
        find "$(cd "$class_dir" && pwd)" -maxdepth 1 -type f | sort | awk 'NR <= 16' |
            while read -r file; do ln -s "$file" "$subset/$class/"; done
    done
    data=$subset
    sizes=(--knob-images 64 --knob-epochs 2 --size-scale 0.25 --pipeline-size 64
           --pipeline-epochs 3 --sweep-epochs 1
           --study trainer.epochs=2 dataset.image_size=64)
else
    sizes=(--knob-images 512 --knob-epochs 3 --pipeline-epochs 4 --sweep-epochs 10)
fi
start=$SECONDS
"$PY" scripts/bench.py --section gpu --data-path "$data" "${sizes[@]}" "$@" 2>/dev/null
echo
echo "gpu_check: $((SECONDS - start)) s (target: under 8 minutes on one GPU)"

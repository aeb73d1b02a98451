#!/usr/bin/env bash
# What scripts/gpu_check.sh --keras-backend jax needs on a bare GPU box (no TensorFlow, no
# network), made here where pip works: wheels for the box's Python, and a flower subset.
#
#   scripts/gpu_bundle.sh [--make-data] [--out DIR] [--python-version 3.12] [--photos N]
#
#   --out DIR          where the wheels (DIR/wheels) and photos (DIR/flowers) go
#                      (default: gpu_bundle/, ignored by git; carry it to the box)
#   --python-version   the box's Python (default 3.12; 3.11 rehearses it on this machine)
#   --make-data        also build the flower subset: --photos a class (default 100) of
#                      ../shared/data/flower_photos, re-encoded at 180 px on the short side
#
# Only what the box lacks is downloaded. The box has (its PyTorch venv): JAX 0.11.2 with its
# CUDA plugin, numpy, scipy, scikit-learn, pandas, Pillow, matplotlib, opencv, pytest, and
# their own dependencies; those wheels are dropped (BOX_HAS), so its JAX stays. Brought:
# Keras (+ namex, optree, h5py, rich, absl-py), Hydra (hydra-core, omegaconf, antlr4,
# PyYAML, hydra-joblib-launcher), MLflow's client side (mlflow-skinny, mlflow-tracing and
# what they import: opentelemetry, pydantic, protobuf, requests, databricks-sdk...; not the
# `mlflow` wheel, whose server and UI weigh tens of MB), SQLAlchemy and alembic for a SQLite
# store. The list is printed; wheels, photos and the checkout stay under 50 MB.
set -euo pipefail
cd "$(dirname "$0")/.."

out=gpu_bundle
pyver=3.12
make_data=0
photos=100
while [[ $# -gt 0 ]]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --python-version) pyver="$2"; shift 2 ;;
        --make-data) make_data=1; shift ;;
        --photos) photos="$2"; shift 2 ;;
        *) echo "gpu_bundle: unknown argument $1" >&2; exit 2 ;;
    esac
done
PY=${PY:-python3}
# The versions this project is tested with (pyproject.toml's ranges).
WANTED=(
    keras==3.15.1 hydra-core==1.3.8 omegaconf==2.3.1 hydra-joblib-launcher==1.2.0
    mlflow-skinny==3.17.2 mlflow-tracing==3.17.2 SQLAlchemy==2.1.9 alembic==1.20.1
    h5py==3.14.0
)
# On the box already (wheel names as pip writes them, lower case, - as _).
BOX_HAS='^(jax|jaxlib|jax_cuda[0-9]*_(plugin|pjrt)|numpy|scipy|scikit_learn|pandas|pillow|'\
'matplotlib|contourpy|cycler|fonttools|kiwisolver|pyparsing|python_dateutil|six|pytz|tzdata|'\
'joblib|threadpoolctl|ml_dtypes|opt_einsum|packaging|typing_extensions|setuptools|'\
'opencv_python_headless|filelock|jinja2|markupsafe|sympy|mpmath|networkx|fsspec|'\
'nvidia_.*|triton|torch)-'

wheels="$out/wheels"
mkdir -p "$wheels"
tag=${pyver/./}
# Hydra 1.3 pins antlr4-python3-runtime 4.9.*, published as source only: built here (pure
# Python, any version of Python 3), then found by the download below.
"$PY" -m pip wheel --quiet --no-deps --wheel-dir "$wheels" antlr4-python3-runtime==4.9.3
"$PY" -m pip download --quiet --dest "$wheels" --only-binary=:all: --find-links "$wheels" \
    --python-version "$pyver" --implementation cp --abi "cp$tag" --abi abi3 --abi none \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_34_x86_64 --platform any \
    "${WANTED[@]}"
for wheel in "$wheels"/*.whl; do
    name=$(basename "$wheel" | tr 'A-Z-' 'a-z_' | sed 's/_\([0-9]\)/-\1/')
    if [[ $name =~ $BOX_HAS ]]; then rm "$wheel"; fi
done

if [[ $make_data == 1 ]]; then
    "$PY" - "$out/flowers" "$photos" <<'PYEOF'
import sys
from pathlib import Path

from PIL import Image

source = Path("../shared/data/flower_photos")
target, per_class = Path(sys.argv[1]), int(sys.argv[2])
for folder in sorted(p for p in source.iterdir() if p.is_dir()):
    (target / folder.name).mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.glob("*.jpg"))[:per_class]:
        with Image.open(path) as image:
            image = image.convert("RGB")
            scale = 180 / min(image.size)
            size = (round(image.width * scale), round(image.height * scale))
            image.resize(size, Image.Resampling.LANCZOS).save(target / folder.name / path.name,
                                                              quality=90)
PYEOF
fi

echo "wheels in $wheels (for the box's Python $pyver):"
ls "$wheels" | sed 's/^/  /'
echo "wheels: $(du -sh "$wheels" | cut -f1)"
[[ -d "$out/flowers" ]] && echo "flower subset: $(find "$out/flowers" -type f | wc -l) photos, $(du -sh "$out/flowers" | cut -f1)"
echo "checkout (tracked files): $(git ls-files -z | du -ch --files0-from=- | tail -1 | cut -f1)"
echo "total: $(du -sch "$out" $(git ls-files) 2>/dev/null | tail -1 | cut -f1) (limit 50 MB)"

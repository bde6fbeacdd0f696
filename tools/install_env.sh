#!/usr/bin/env bash
# Create .venv with everything densekd needs. Idempotent: a stamp records what was installed,
# and the mmcv wheel (a ~9 minute source build) is cached outside the repo for reuse.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
CACHE=${DENSEKD_CACHE:-$HOME/.cache/densekd}
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"
MMCV_VERSION=2.1.0
STAMP="$VENV/.densekd-installed"
want=$(cat requirements.txt requirements-nodeps.txt setup.py tools/install_env.sh | sha256sum | cut -c1-16)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  # torch's CUDA build makes a fresh .venv ~7 GB; say so before pip fails half-way on a full disk.
  venv_parent=$(mkdir -p "$(dirname "$VENV")" && cd "$(dirname "$VENV")" && pwd)
  free_gb=$(df -Pk "$venv_parent" | awk 'NR==2 {print int($4 / 1048576)}')
  if [ "$free_gb" -lt 8 ]; then
    echo "error: a fresh $VENV needs about 8 GB of free disk, $venv_parent has $free_gb GB: free some space and re-run" >&2
    exit 1
  fi
  "$PY" -m venv "$VENV"
fi
VPY=$(cd "$VENV" && pwd)/bin/python
pip() { "$VPY" -m pip "$@"; }
pip install -q --upgrade "pip<25" wheel ninja
pip install -q $TORCH_PINS

# mmcv ships no wheel for this torch: build it once from the sdist, with its compiled ops.
# Two fixes (see ../shared/ENVIRONMENT.md): setup.py needs pkg_resources (setuptools<70, no
# build isolation) and torch 2.14's headers need C++20 where mmcv passes -std=c++14/17.
mkdir -p "$CACHE/wheels"
if ! ls "$CACHE"/wheels/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
  echo "Building mmcv $MMCV_VERSION from source (about 9 minutes on 2 cores, once)..."
  pip install -q "setuptools<70"  # after torch, which pulls a newer one
  build=$(mktemp -d)
  pip download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$build"
  tar -xzf "$build"/mmcv-$MMCV_VERSION.tar.gz -C "$build"
  sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
  (cd "$build/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} \
     "$VPY" -m pip wheel -q --no-build-isolation --no-deps . -w "$CACHE/wheels")
  rm -rf "$build"
fi
pip install -q "$CACHE"/wheels/mmcv-$MMCV_VERSION-*.whl -r requirements.txt
pip install -q --no-deps -r requirements-nodeps.txt  # mmdet3d (see the file for why --no-deps)
pip install -q --no-deps -e .
echo "$want" > "$STAMP"
echo "densekd environment ready in $VENV"

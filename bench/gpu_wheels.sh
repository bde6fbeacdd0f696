#!/usr/bin/env bash
# Fill .whl/ (git-ignored) with what bench/gpu_check.sh needs on the lent GPU machine, which has no
# internet: Python 3.12 wheels of densekd's packages that its image lacks, the mmcv 2.1.0 sdist (built
# there against the image's torch), and spconv-cu126 2.3.8 + cumm-cu126 0.7.11 repacked as one
# .tar.xz. Run it here (it needs the package registry), then call the device tool with
# carry=['.whl'] and `bash bench/gpu_check.sh`.
#
# Why the repack: the spconv/cumm CUDA wheels are 67.2 MiB + 25.4 MiB as wheels (zip/deflate): more
# than the 64 MiB that one device call may carry in all. Unpacked they are 343 MB, mostly one 284 MB
# spconv/core_cc*.so (kernels for sm_50..sm_90) and cumm's bundled libnvrtc; xz -9e packs both into
# ~37 MiB (measured 2026-12-02: 39,019,940 bytes). gpu_check.sh unpacks it into the same --target
# folder pip installs the wheels into (what pip would do: the wheels have no scripts or data files).
# The xz step takes ~5 minutes on one core here; it is skipped when the archive is already there.
#
#     bash bench/gpu_wheels.sh            # then: du -sh .whl (~52 MiB; the tracked tree adds ~2 MiB)
#     SPCONV=0 bash bench/gpu_wheels.sh   # without spconv (e.g. to carry work_dirs/gpu_parity instead)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DEST=.whl
mkdir -p "$DEST"
pip_download() {  # (pip's "Location ... is ignored" lines are this machine's extra index settings)
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 "$@"
}

# The pins of requirements.txt / requirements-nodeps.txt that the GPU image (KINDS.md's package list:
# torch 2.11, numpy, scipy, pandas, scikit-learn, scikit-image, numba, opencv, matplotlib, lightning,
# torchmetrics, timm, huggingface-hub, safetensors, regex, rich, pybind11, ninja, ...) does not hold,
# and their own missing dependencies. setuptools < 81: mmcv's setup.py and mmengine's `mmseg::` base
# configs need pkg_resources.
pip_download -d "$DEST" \
  mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 mmdet3d==1.4.0 open_clip_torch==3.3.0 \
  faster-coco-eval==1.8.0 pycocotools==2.0.11 prettytable==3.18.0 wcwidth==0.9.4 addict==2.4.0 \
  yapf==0.43.0 platformdirs==4.14.9 termcolor==3.3.0 terminaltables==3.1.10 ftfy==6.3.1 shapely==2.2.0 \
  pyquaternion==0.9.9 cachetools==8.0.2 plyfile==1.1.5 trimesh==5.2.0 lyft_dataset_sdk==0.0.8 \
  nuscenes-devkit==1.2.0 pccm==0.4.16 ccimport==0.4.4 fire==0.7.1 lark==1.3.1 setuptools==80.10.2
[ -f "$DEST/mmcv-2.1.0.tar.gz" ] || "$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
  mmcv==2.1.0 -d "$DEST"

ARCHIVE="$DEST/spconv_cu126-2.3.8_cumm_cu126-0.7.11.tar.xz"
if [ "${SPCONV:-1}" = 1 ] && [ ! -f "$ARCHIVE" ]; then
  tmp=$(mktemp -d)
  pip_download -d "$tmp" spconv-cu126==2.3.8 cumm-cu126==0.7.11
  mkdir "$tmp/files"
  for w in "$tmp"/*.whl; do unzip -q -o "$w" -d "$tmp/files"; done
  tar -C "$tmp/files" -cf - . | nice xz -9e -T1 > "$tmp/spconv.tar.xz"
  mv "$tmp/spconv.tar.xz" "$ARCHIVE"
  rm -rf "$tmp"
elif [ "${SPCONV:-1}" != 1 ]; then
  rm -f "$ARCHIVE"
fi

ls -l "$DEST"
carried=$(du -cb "$DEST"/* | tail -1 | cut -f1)
tracked=$( (git ls-files -z 2>/dev/null || true) | du -cb --files0-from=- | tail -1 | cut -f1)
echo "carry: .whl $((carried / 1048576)) MiB + tracked tree $((tracked / 1048576)) MiB (untracked files travel too) of 64 MiB"
[ $((carried + tracked)) -lt $((62 * 1048576)) ] || { echo "over the device tool's 64 MiB: carry less" >&2; exit 1; }

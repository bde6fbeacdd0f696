#!/usr/bin/env bash
# GPU check of densekd's CUDA path, run on a lent GPU machine (see bench/RESULTS.md):
# builds mmcv's CUDA ops there, then trains the demo distillation with AMP on the GPU, tests it,
# and runs the overhead benchmark on the GPU. Expects wheels + the mmcv sdist in .whl/.
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_check}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, lightning; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'lightning', lightning.__version__)"

mkdir -p /tmp/mmcv && tar -xzf .whl/mmcv-2.1.0.tar.gz -C /tmp/mmcv
sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' /tmp/mmcv/mmcv-2.1.0/setup.py
start=$(date +%s)
(cd /tmp/mmcv/mmcv-2.1.0 && MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 \
   timeout 330 python3 setup.py build_ext --inplace) > "$OUT/mmcv_build.log" 2>&1
echo "mmcv CUDA build: rc=$? in $(( $(date +%s) - start )) s"; tail -3 "$OUT/mmcv_build.log"
export PYTHONPATH=/tmp/site:/tmp/mmcv/mmcv-2.1.0:$PWD
python3 -c "import mmcv.ops, torch; from mmcv.ops import nms; b=torch.rand(8,4,device='cuda'); b[:,2:]+=1; print('mmcv.ops nms on cuda:', nms(b, torch.rand(8,device='cuda'), 0.5)[1].tolist())" || exit 1

python3 tools/make_demo_data.py --out data/shapes --num-train 64 --num-val 16
python3 - <<'PY'
import torch
from densekd import DistillModule
from densekd.core.config import load_config
torch.manual_seed(0)
teacher = DistillModule.from_config(load_config('configs/demo/faster_rcnn_teacher_shapes.py')).student
torch.save({'state_dict': teacher.state_dict()}, '/tmp/teacher.pth')
PY
opts="teacher.checkpoint=/tmp/teacher.pth trainer.precision=16-mixed train_cfg.max_iters=40 train_cfg.val_interval=40 train_cfg.checkpoint_interval=20"
python3 tools/train.py configs/demo/faster_rcnn_mimic_shapes.py --accelerator gpu --devices 1 \
  --work-dir /tmp/wd --cfg-options $opts 2>&1 | grep -v Warning | tail -15
python3 tools/train.py configs/demo/faster_rcnn_mimic_shapes.py --accelerator gpu --devices 1 \
  --work-dir /tmp/wd --resume --cfg-options $opts train_cfg.max_iters=60 2>&1 | tail -3
python3 tools/test.py configs/demo/faster_rcnn_mimic_shapes.py /tmp/wd/last.ckpt --work-dir /tmp/wd 2>&1 | tail -14
cp /tmp/wd/logs/metrics.csv "$OUT/" 2>/dev/null
python3 bench/kd_overhead.py --device cuda --iters 30 --batch-size 2
python3 bench/kd_overhead.py --device cuda --iters 30 --batch-size 8

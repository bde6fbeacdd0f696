#!/usr/bin/env bash
# GPU check of densekd's CUDA path, run on a lent GPU machine (see bench/RESULTS.md): OAKE
# throughput with CLIP ViT-B/32 while mmcv's CUDA ops build, CLIP features extracted on the GPU
# against the same ones from the CPU, then the demo distillation trained with AMP, resumed, tested,
# and the overhead benchmark. Expects py3.12 wheels + the mmcv sdist in .whl/ (carried).
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_check}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, lightning; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'lightning', lightning.__version__)"

# 1. mmcv's CUDA ops build in the background ...
(mkdir -p /tmp/mmcv && tar -xzf .whl/mmcv-2.1.0.tar.gz -C /tmp/mmcv \
  && sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' /tmp/mmcv/mmcv-2.1.0/setup.py \
  && cd /tmp/mmcv/mmcv-2.1.0 && start=$(date +%s) \
  && MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=14 timeout 330 python3 setup.py build_ext --inplace; \
  echo "mmcv CUDA build: rc=$? in $(( $(date +%s) - ${start:-0} )) s") > "$OUT/mmcv_build.log" 2>&1 &
build=$!

# 2. ... meanwhile OAKE throughput with CLIP ViT-B/32 on the GPU (densekd's package init, which
# imports mmdet and so mmcv's ops, is bypassed: the OVD teacher needs neither).
python3 - <<'PY' 2>&1 | grep -v -i warn | tee "$OUT/oake_throughput.log"
import runpy, sys, types
package = types.ModuleType('densekd'); package.__path__ = ['densekd']; sys.modules['densekd'] = package
for dtype in ('float32', 'float16'):
    sys.argv = ['oake_throughput.py', '--device', 'cuda', '--proposals', '512', '--dtype', dtype, '--cache-images', '8']
    runpy.run_path('bench/oake_throughput.py', run_name='__main__')
PY
wait $build; tail -2 "$OUT/mmcv_build.log"
export PYTHONPATH=/tmp/site:/tmp/mmcv/mmcv-2.1.0:$PWD
python3 -c "import mmcv.ops, torch; from mmcv.ops import nms; b=torch.rand(8,4,device='cuda'); b[:,2:]+=1; print('mmcv.ops nms on cuda:', nms(b, torch.rand(8,device='cuda'), 0.5)[1].tolist())" || exit 1


# 3. The demo's CLIP features extracted on the GPU agree with those extracted on CPU (carried).
# work_dirs/gpu_parity holds the CLIP weights, the val proposals and the features written on CPU with
# `tools/extract_clip_features.py configs/demo/clip_features_shapes.py --split val --out
# work_dirs/gpu_parity/features_val --cfg-options clip_teacher.pretrained=... proposals=...`.
P=work_dirs/gpu_parity
python3 tools/extract_clip_features.py configs/demo/clip_features_shapes.py --split val --accelerator cuda \
  --out /tmp/gpu_features --cfg-options clip_teacher.pretrained=$P/clip.safetensors \
  clip_features.splits.val.proposals=$P/proposals_val 2>&1 | grep -v -i warn | tail -3
python3 - <<'PY'
import torch
from densekd.ovd.teacher_features import CachedTeacherFeatures
cpu, gpu = CachedTeacherFeatures('work_dirs/gpu_parity/features_val'), CachedTeacherFeatures('/tmp/gpu_features')
ids = cpu.store.image_ids()
worst = {}
for i in ids:
    a, b = cpu(i), gpu(i)
    for k in a:
        worst[k] = max(worst.get(k, 0.0), (a[k] - b[k]).abs().max().item() if a[k].numel() else 0.0)
print(f'CPU vs GPU features over {len(ids)} images, max abs difference per field:', worst)
PY

# 4. The foundation's CUDA path: AMP training, resume, test, overhead benchmark (a small shapes set).
python3 tools/make_demo_data.py --out data/shapes --num-train 64 --num-val 16 | tail -1
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

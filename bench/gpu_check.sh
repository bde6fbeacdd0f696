#!/usr/bin/env bash
# GPU check of densekd's CUDA path, all three wings: the first thing a session runs when a GPU machine
# is lent (see bench/RESULTS.md, "GPU check"). One command, no internet, ends by itself inside
# GPU_CHECK_BUDGET seconds (default 570: call the device tool with timeout_s=600).
#
#   here:  bash bench/gpu_wheels.sh        # fills .whl/ (git-ignored): ~52 MiB, see below
#   then:  device run, carry=['.whl'], timeout_s=600, command `bash bench/gpu_check.sh`
#   CPU rehearsal of every command (no GPU, no install, no mmcv build, tiny sizes; ~7 min on 2 cores),
#   in a copy of what travels, so that it never rewrites the data/ of this checkout:
#          rm -rf /tmp/gcrepo && mkdir /tmp/gcrepo && git ls-files -co --exclude-standard -z |
#            tar --null -cf - -T - | tar -xf - -C /tmp/gcrepo && (cd /tmp/gcrepo &&
#            PATH=$OLDPWD/.venv/bin:$PATH OMP_NUM_THREADS=1 GPU_CHECK_DRY=1 bash bench/gpu_check.sh)
#
# Carry plan (the device tool takes the working tree + carried paths, 64 MiB in all): .whl/ holds
# py3.12 wheels of the packages the GPU image lacks (14.1 MiB: mmengine, mmdet, mmseg, mmdet3d,
# open_clip, ...), the mmcv 2.1.0 sdist (0.45 MiB) and spconv-cu126 2.3.8 + cumm-cu126 0.7.11
# (37.2 MiB). Those two CUDA wheels are 67.2 + 25.4 MiB as downloaded: too big to carry as wheels
# (the spconv wheel alone is over 64 MiB), so gpu_wheels.sh repacks their unpacked files with xz
# (spconv 2.3.8 has sm_90 SASS; cu126 is the newest CUDA of spconv's wheels, none exists for CUDA 13;
# its bundled libcudart 12.6 beside torch's CUDA 13 under driver 580 is what step spconv_cuda measures).
# With the tracked tree (~2.2 MiB) that is ~54 MiB. work_dirs/gpu_parity (CLIP weights 29 MiB +
# features) does not fit beside spconv: step clip_parity runs only when it is carried, i.e. on a run
# prepared with `SPCONV=0 bash bench/gpu_wheels.sh` and carry=['.whl', 'work_dirs/gpu_parity'];
# without the spconv archive, spconv_cuda is skipped and SECOND runs on mmcv's sparse conv ops.
#
# Steps, in order (a failed step never stops the others; each prints "[gpu_check] NAME rc=N" and
# every rc lands in $OUT/summary.txt; rc 1 of a bench.* step = its goal was missed, not a crash):
#   A. install (wheels into /tmp/site) | mmcv_build: mmcv 2.1.0 CUDA ops (sm_90, -std=c++20), in the
#      background, while: spconv_cuda (SubMConv3d/SparseConv3d fp32 CPU-vs-GPU agreement, fp32 and
#      fp16 step times), demo_data (shapes 64/16, streets 16/4, LiDAR 16/4 + the benchmark's 16
#      scenes), oake.fp32 / oake.fp16 (OAKE throughput, ViT-B/32, 512 proposals; CPUs shared with
#      the build) | mmcv_ops (nms + RoIAlign on cuda) | clip_parity (only if work_dirs/gpu_parity).
#   B. four chains at once (one GPU, 4 CPU threads each), each first saving a random-weight teacher
#      checkpoint (NAME.teacher): det / seg / pp = faster_rcnn_mimic_shapes, deeplabv3_acam_streets,
#      pointpillars_pointdistiller_lidar: 40 iterations with trainer.precision=16-mixed, --resume to
#      60, tools/test.py; second = second_pointdistiller_lidar (spconv), 10 iterations (the config's
#      fp32) with validation.
#   C. benchmarks on cuda, one at a time: kd_overhead (batch 4), acam_attention, pointdistiller_step,
#      oadp_step --setting coco, kd_overhead (batch 16) -- whatever the time left allows.
# $OUT gets 8 files (the device tool returns at most 8): gpu_check.log (all of the above),
# summary.txt, mmcv_build.log, det.log, seg.log, pp.log, second.log (the chains' step outputs) and
# results.tar.gz (every step's full log, the work dirs' metrics.json / train_summary.json /
# metrics.csv / config.py; written last).
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
DRY=${GPU_CHECK_DRY:-0}
OUT=${OUT:-/tmp/gpu_check}; [ "$DRY" = 1 ] && OUT=${GPU_CHECK_OUT:-/tmp/gpu_check_dry}
LOGS=/tmp/gpu_check_logs WD=/tmp/gpu_check_wd BENCH_KITTI=/tmp/densekd_bench_kitti
[ "$DRY" = 1 ] && BENCH_KITTI=/tmp/gpu_check_dry_kitti  # never rewrite the benchmark's own scenes here
rm -rf "$LOGS" "$WD"; mkdir -p "$OUT" "$LOGS" "$WD"; : > "$OUT/summary.txt"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
TEE=$!
T0=$(date +%s) BUDGET=${GPU_CHECK_BUDGET:-570} RESERVE=20
SPCONV_ARCHIVE=$(ls .whl/spconv_cu*.tar.xz 2>/dev/null | head -1)

if [ "$DRY" = 1 ]; then  # the CPU rehearsal: same commands, tiny sizes
  DEV=cpu ACC=cpu PREC=32-true IT1=2 IT2=3 ITS=2
  OAKE="--device cpu --proposals 4 --repeats 1 --image-size 240 320 --cache-images 2 --cache-proposals 8"
  KD="--device cpu --iters 1 --warmup 0" ACAM="--device cpu --quick --repeats 1 --iters 1 --warmup 0"
  PD="--device cpu --iters 1 --warmup 0 --batch-size 2"
  OADP="--setting coco --device cpu --iters 1 --warmup 0 --threads 1 --max-size 320 192"
  SHAPES="--num-train 8 --num-val 4" STREETS="--num-train 8 --num-val 2" LIDAR="--num-train 8 --num-val 2"
  export PYTHONPATH=$PWD
else
  DEV=cuda ACC=gpu PREC=16-mixed IT1=40 IT2=60 ITS=10
  OAKE="--device cuda --proposals 512 --cache-images 8"
  KD="--device cuda --iters 20 --warmup 3" ACAM="--device cuda --iters 10 --warmup 3"
  PD="--device cuda --iters 10 --warmup 2"
  OADP="--setting coco --device cuda --iters 5 --warmup 2 --threads 4"
  SHAPES="--num-train 64 --num-val 16" STREETS="--num-train 16 --num-val 4" LIDAR="--num-train 16 --num-val 4"
  export PYTHONPATH=/tmp/site:$PWD
fi

left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
record() {  # record NAME RC NOTE: one labelled line, and the same in summary.txt
  local line; line=$(printf '%-24s %-8s %s' "$1" "$2" "$3")
  echo "[gpu_check] $line"
  echo "$line" >> "$OUT/summary.txt"
}
skip() { record "$1" skip "$2"; }
quiet() {  # a log without warnings (and the source line Python prints under each), blank lines, progress bars
  tr '\r' '\n' | awk 'tolower($0) ~ /warn|^w[0-9][0-9][0-9][0-9] / {w = 1; next} /paramwise_options/ {next}
                      w && /^  / {w = 0; next} {w = 0}
                      /^[[:space:]]*$|\| *[0-9]+\/[0-9]+ \[|\[A[[:space:]]*$/ {next} {print}'
}
step() {  # step NAME CAP_S CMD...: run CMD with a timeout of CAP_S (less if the budget is short)
  local name=$1 cap=$2 limit start rc note; shift 2
  local log=${LOG:-$LOGS/$name.log}
  limit=$(( $(left) - RESERVE )); (( limit > cap )) && limit=$cap
  if (( limit < 20 )); then skip "$name" "out of time (${limit} s left for it)"; return 99; fi
  echo "=== $name (limit ${limit} s, $(( $(date +%s) - T0 )) s in): $*"
  start=$(date +%s)
  timeout -k 10 "$limit" "$@" > "$log" 2>&1; rc=$?
  quiet < "$log" | tail -n "${TAIL:-15}"
  note="$(( $(date +%s) - start )) s"
  if (( rc == 124 || rc == 137 )); then note="$note, TIMED OUT at $limit s"; fi
  record "$name" "rc=$rc" "$note"
  return $rc
}
# The OVD teacher, the data generators and spconv need neither mmdet nor mmcv's ops: these snippets
# bypass densekd's package init (which imports mmdet) so they can run while mmcv builds.
STUB="import sys, types; p = types.ModuleType('densekd'); p.__path__ = ['densekd']; sys.modules['densekd'] = p"

echo "gpu_check: dry=$DRY device=$DEV out=$OUT budget=${BUDGET}s spconv archive: ${SPCONV_ARCHIVE:-none}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
nproc

# ---- A. install; mmcv's CUDA ops build in the background while OAKE, spconv and the data run ----
if [ "$DRY" = 1 ]; then
  skip install "dry run: the venv's packages"
else
  step install 120 python3 - <<'PY'
import glob, subprocess, sys, tarfile
subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--no-compile',
                '--target', '/tmp/site', *glob.glob('.whl/*.whl')], check=True)
for path in glob.glob('.whl/*.tar.xz'):  # spconv + cumm, repacked by bench/gpu_wheels.sh
    with tarfile.open(path) as archive:
        archive.extractall('/tmp/site', filter='data')
    print('unpacked', path)
sys.path.insert(0, '/tmp/site')
from importlib.metadata import version
for name in ('mmengine', 'mmdet', 'mmsegmentation', 'mmdet3d', 'open_clip_torch', 'spconv-cu126', 'cumm-cu126',
             'setuptools', 'numpy', 'torch', 'lightning'):
    try:
        print(name, version(name))
    except Exception as err:  # noqa: BLE001
        print(name, 'missing:', err)
PY
fi
python3 -c "import torch, lightning; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'lightning', lightning.__version__)"

if [ "$DRY" = 1 ]; then
  skip mmcv_build "dry run: the venv's mmcv"
  BUILD=
else
  LOG=$OUT/mmcv_build.log TAIL=5 step mmcv_build 420 bash -c '
    set -e; rm -rf /tmp/mmcv; mkdir -p /tmp/mmcv; tar -xzf .whl/mmcv-2.1.0.tar.gz -C /tmp/mmcv
    sed -i -E "s/-std=c\+\+1[47]/-std=c++20/g" /tmp/mmcv/mmcv-2.1.0/setup.py
    cd /tmp/mmcv/mmcv-2.1.0
    MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=14 python3 setup.py build_ext --inplace' \
    > /dev/null 2>&1 &
  BUILD=$!
fi

if [ -n "$SPCONV_ARCHIVE" ] || [ "$DRY" = 1 ]; then
  step spconv_cuda 90 python3 - <<'PY'
import time
import torch
import spconv
import spconv.pytorch as sp
try:
    import cumm
    cumm_version = cumm.__version__
except Exception as err:  # noqa: BLE001
    cumm_version = f'not importable: {err}'
print('spconv', spconv.__version__, 'from', spconv.__file__, '| cumm', cumm_version, '| torch', torch.__version__,
      'cuda', torch.version.cuda)
cuda = torch.cuda.is_available()
if not cuda:  # CPU rehearsal: spconv's CPU backward asks for a CUDA stream (densekd/det3d/compat.py does this)
    import spconv.pytorch.ops as ops
    ops.get_current_stream = lambda: 0


def scene(n, shape, seed):
    """n random voxels (batch, z, y, x) of one scene in ``shape``, 4 features each."""
    g = torch.Generator().manual_seed(seed)
    flat = torch.randperm(shape[0] * shape[1] * shape[2], generator=g)[:n]
    z, y, x = flat // (shape[1] * shape[2]), flat // shape[2] % shape[1], flat % shape[2]
    coords = torch.stack([torch.zeros_like(z), z, y, x], 1).int()
    return torch.randn(n, 4, generator=g), coords


def encoder():
    torch.manual_seed(0)
    return sp.SparseSequential(
        sp.SubMConv3d(4, 16, 3, padding=1, bias=False, indice_key='subm1'), torch.nn.ReLU(),
        sp.SparseConv3d(16, 32, 3, stride=2, padding=1, bias=False), torch.nn.ReLU(),
        sp.SubMConv3d(32, 32, 3, padding=1, bias=False, indice_key='subm2'))


def run(net, feats, coords, shape, device, grad=True):
    feats = feats.to(device).requires_grad_(grad)
    out = net(sp.SparseConvTensor(feats, coords.to(device), shape, 1))
    if grad:
        out.features.float().square().sum().backward()
    return out, feats.grad


# 1. the same weights and voxels on CPU and on the GPU (fp32): outputs and input gradients agree
shape = [41, 200, 176]
feats, coords = scene(3000, shape, 0)
net = encoder()
out_cpu, grad_cpu = run(net, feats, coords, shape, 'cpu')
if cuda:
    out_gpu, grad_gpu = run(encoder().cuda(), feats, coords, shape, 'cuda')
    a, b = out_cpu.dense(), out_gpu.dense().cpu()
    print(f'CPU vs GPU, {len(feats)} voxels: output max |diff| {(a - b).abs().max().item():.2e} '
          f'(max |out| {a.abs().max().item():.2f}), input grad max |diff| '
          f'{(grad_cpu - grad_gpu.cpu()).abs().max().item():.2e}')
    assert torch.allclose(a, b, atol=1e-2, rtol=1e-2), 'spconv CPU and GPU outputs differ'
else:
    print(f'CPU only (dry run): output {tuple(out_cpu.dense().shape)}, grad {tuple(grad_cpu.shape)}')

# 2. forward + backward step times at a KITTI-like grid (GPU only)
if cuda:
    shape = [41, 400, 352]
    feats, coords = scene(20000, shape, 1)
    net = encoder().cuda()
    for dtype in (torch.float32, torch.float16):
        times = []
        for i in range(13):
            torch.cuda.synchronize()
            start = time.perf_counter()
            with torch.autocast('cuda', dtype=torch.float16, enabled=dtype == torch.float16):
                run(net, feats, coords, shape, 'cuda')
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        times = sorted(times[3:])
        print(f'{dtype}: 20000 voxels of 41x400x352, 3-layer encoder fwd+bwd: median {times[5] * 1e3:.2f} ms')
PY
else
  skip spconv_cuda "no spconv archive in .whl/ (run bench/gpu_wheels.sh; see the header)"
fi

step demo_data 150 python3 - <<PY
$STUB
import runpy
make = runpy.run_path('tools/make_demo_data.py')['main']
make(['--out', 'data/shapes'] + '$SHAPES'.split())
make(['--dataset', 'cityscapes'] + '$STREETS'.split())
make(['--dataset', 'kitti'] + '$LIDAR'.split())
# bench/pointdistiller_step.py's scenes, as bench/det3d_step.py's demo_data() makes them
from densekd.data import make_lidar_scenes, prepare_kitti
make_lidar_scenes('$BENCH_KITTI', num_train=16 if '$DRY' != '1' else 4, num_val=2, seed=0)
prepare_kitti('$BENCH_KITTI')
print('benchmark scenes at $BENCH_KITTI')
PY

for dtype in float32 float16; do
  [ "$DRY" = 1 ] && [ $dtype = float16 ] && { skip oake.$dtype "dry run: fp16 on CPU"; continue; }
  TAIL=25 step oake.$dtype 120 python3 - <<PY
$STUB
import runpy
sys.argv = ['oake_throughput.py'] + '$OAKE'.split() + ['--dtype', '$dtype']
runpy.run_path('bench/oake_throughput.py', run_name='__main__')
PY
done

if [ -n "$BUILD" ]; then
  wait "$BUILD"
  grep -a -E "error|FAILED" "$OUT/mmcv_build.log" | grep -v -i warn | head -20
  tail -n 3 "$OUT/mmcv_build.log"; grep "^mmcv_build " "$OUT/summary.txt"
  export PYTHONPATH=/tmp/site:/tmp/mmcv/mmcv-2.1.0:$PWD
fi
step mmcv_ops 60 python3 -c "
import torch
from mmcv.ops import RoIAlign, nms
boxes = torch.rand(8, 4, device='$DEV'); boxes[:, 2:] += 1
print('mmcv.ops nms on $DEV:', nms(boxes, torch.rand(8, device='$DEV'), 0.5)[1].tolist())
rois = torch.tensor([[0, 0, 0, 8, 8]], dtype=torch.float, device='$DEV')
print('RoIAlign on $DEV:', tuple(RoIAlign(7, 1.0, 2)(torch.rand(1, 4, 16, 16, device='$DEV'), rois).shape))
"
MMCV_OK=$?

# The demo's CLIP features extracted on the GPU agree with those extracted on CPU. work_dirs/gpu_parity,
# carried, holds clip.safetensors (the demo CLIP's weights), proposals_val (proposals of the val images)
# and features_val, written here on CPU from the very images this script generates (same generator,
# arguments and seed) with:
#   python tools/make_demo_data.py --out /tmp/parity/shapes --num-train 64 --num-val 16 &&
#   python tools/prepare_ov_coco.py --dataset shapes --data-root /tmp/parity/shapes &&
#   python tools/extract_clip_features.py configs/demo/clip_features_shapes.py --split val
#     --out work_dirs/gpu_parity/features_val --cfg-options clip_teacher.pretrained=work_dirs/gpu_parity/clip.safetensors
#     clip_features.splits.val.proposals=work_dirs/gpu_parity/proposals_val
#     clip_features.splits.val.ann_file=/tmp/parity/shapes/annotations/instances_val.ov.json
#     clip_features.splits.val.img_prefix=/tmp/parity/shapes/val/
if [ -d work_dirs/gpu_parity ] && [ "$MMCV_OK" = 0 ]; then
  P=work_dirs/gpu_parity
  step clip_parity 120 bash -c "python3 tools/prepare_ov_coco.py --dataset shapes && \
    python3 tools/extract_clip_features.py configs/demo/clip_features_shapes.py --split val --accelerator $DEV \
    --out $WD/clip_features_val --cfg-options clip_teacher.pretrained=$P/clip.safetensors \
    clip_features.splits.val.proposals=$P/proposals_val && python3 -c \"
from densekd.ovd.teacher_features import CachedTeacherFeatures
cpu, gpu = CachedTeacherFeatures('$P/features_val'), CachedTeacherFeatures('$WD/clip_features_val')
ids = cpu.store.image_ids()
worst = {}
for i in ids:
    a, b = cpu(i), gpu(i)
    for k in a:
        worst[k] = max(worst.get(k, 0.0), (a[k] - b[k]).abs().max().item() if a[k].numel() else 0.0)
print(f'CPU vs $DEV features over {len(ids)} images, max abs difference per field:', worst)
\""
else
  skip clip_parity "work_dirs/gpu_parity not carried (or mmcv.ops failed)"
fi

# ---- B. the four demo pairs at once, each: a random-weight teacher, AMP training, resume, test -----
if [ "$MMCV_OK" != 0 ]; then
  for s in det seg pp second bench; do skip "$s" "mmcv.ops did not work: densekd cannot import"; done
else
  teacher() {  # teacher NAME CONFIG: a random-weight teacher checkpoint, saved as kd_overhead saves its own
    step "$1.teacher" 90 python3 - <<PY
import torch
from densekd import DistillModule
from densekd.core.config import load_config
torch.manual_seed(0)
student = DistillModule.from_config(load_config('$2')).student
torch.save({'state_dict': student.state_dict()}, '$WD/teacher_$1.pth')
print('$1 teacher: $2,', sum(p.numel() for p in student.parameters()), 'parameters, random weights')
PY
  }
  wing() {  # wing NAME CONFIG TEACHER_CONFIG: a teacher, $IT1 iterations with $PREC, --resume to $IT2, test
    local name=$1 config=$2 wd=$WD/$1
    teacher "$name" "$3"
    local opts="teacher.checkpoint=$WD/teacher_$1.pth trainer.precision=$PREC train_cfg.max_iters=$IT1"
    opts="$opts train_cfg.val_interval=$IT1 train_cfg.checkpoint_interval=$(( IT1 / 2 )) train_cfg.log_interval=5"
    step "$name.train" 240 python3 tools/train.py "$config" --accelerator $ACC --devices 1 --work-dir "$wd" \
      --cfg-options $opts
    if [ -f "$wd/last.ckpt" ]; then
      step "$name.resume" 150 python3 tools/train.py "$config" --accelerator $ACC --devices 1 --work-dir "$wd" \
        --resume --cfg-options $opts train_cfg.max_iters=$IT2 \
      && step "$name.resumed_to_$IT2" 20 python3 -c "
import json, sys
s = json.load(open('$wd/train_summary.json')); print(s); sys.exit(s['iterations'] != $IT2)"
    else
      skip "$name.resume" "no $wd/last.ckpt from $name.train"
    fi
    if [ -f "$wd/last.ckpt" ]; then
      step "$name.test" 150 python3 tools/test.py "$config" "$wd/last.ckpt" --accelerator $ACC --work-dir "$wd"
    else
      skip "$name.test" "no $wd/last.ckpt"
    fi
  }
  second() {  # SECOND + PointDistiller (spconv on both sides): $ITS iterations, validation at the end
    if [ "$DRY" = 1 ]; then echo "spconv: the venv's CPU wheel"
    elif [ -n "$SPCONV_ARCHIVE" ]; then echo "spconv: $SPCONV_ARCHIVE"
    else echo "spconv: not carried; mmdet3d falls back to mmcv's sparse conv ops"; fi
    teacher second configs/demo/second_teacher_lidar.py
    step second.train 240 python3 tools/train.py configs/demo/second_pointdistiller_lidar.py --accelerator $ACC \
      --devices 1 --work-dir "$WD/second" --cfg-options teacher.checkpoint=$WD/teacher_second.pth \
      train_cfg.max_iters=$ITS train_cfg.val_interval=$ITS train_cfg.checkpoint_interval=$ITS train_cfg.log_interval=2
  }
  if [ "$DRY" = 1 ]; then  # one at a time on the CPU
    wing det configs/demo/faster_rcnn_mimic_shapes.py \
      configs/demo/faster_rcnn_teacher_shapes.py > "$OUT/det.log" 2>&1
    wing seg configs/demo/deeplabv3_acam_streets.py \
      configs/demo/deeplabv3_teacher_streets.py > "$OUT/seg.log" 2>&1
    wing pp configs/demo/pointpillars_pointdistiller_lidar.py \
      configs/demo/pointpillars_teacher_lidar.py > "$OUT/pp.log" 2>&1
    second > "$OUT/second.log" 2>&1
  else  # one GPU, 16 CPU cores: the four at once, 4 CPU threads each
    OMP_NUM_THREADS=4 wing det configs/demo/faster_rcnn_mimic_shapes.py \
      configs/demo/faster_rcnn_teacher_shapes.py > "$OUT/det.log" 2>&1 & chains=$!
    OMP_NUM_THREADS=4 wing seg configs/demo/deeplabv3_acam_streets.py \
      configs/demo/deeplabv3_teacher_streets.py > "$OUT/seg.log" 2>&1 & chains="$chains $!"
    OMP_NUM_THREADS=4 wing pp configs/demo/pointpillars_pointdistiller_lidar.py \
      configs/demo/pointpillars_teacher_lidar.py > "$OUT/pp.log" 2>&1 & chains="$chains $!"
    OMP_NUM_THREADS=4 second > "$OUT/second.log" 2>&1 & chains="$chains $!"
    wait $chains
  fi
  for chain in det seg pp second; do echo "--- $chain"; cat "$OUT/$chain.log"; done

  # ---- C. step-ratio benchmarks, one at a time ----------------------------------------------------
  TAIL=40 step bench.kd_overhead_b4 150 python3 bench/kd_overhead.py $KD --batch-size 4
  TAIL=40 step bench.acam_attention 180 python3 bench/acam_attention.py $ACAM
  TAIL=30 step bench.pointdistiller 150 python3 bench/pointdistiller_step.py $PD --data $BENCH_KITTI
  TAIL=40 step bench.oadp_coco 180 python3 bench/oadp_step.py $OADP
  [ "$DRY" = 1 ] || TAIL=10 step bench.kd_overhead_b16 120 python3 bench/kd_overhead.py $KD --batch-size 16
fi

# ---- the record ------------------------------------------------------------------------------------
(cd /tmp && find gpu_check_wd \( -name metrics.json -o -name train_summary.json -o -name metrics.csv \
   -o -name config.py \) -print0 | tar -czf "$OUT/results.tar.gz" --null -T - gpu_check_logs)
echo "=== summary ($(( $(date +%s) - T0 )) s; rc 1 of a bench.* step: goal missed)"
cat "$OUT/summary.txt"
failed=$(grep -c -v -E ' rc=0 | skip ' "$OUT/summary.txt")
echo "gpu_check: $(wc -l < "$OUT/summary.txt") steps, $failed not rc=0 and not skipped"
exec >&- 2>&-
wait "$TEE" 2>/dev/null

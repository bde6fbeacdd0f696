"""What the benchmarks share: the repository root as working directory, one optimizer step outside a Trainer,
memory probes, and the demo models and data they time. Each benchmark imports this module, not another
benchmark."""
import os
import threading
import time
import warnings

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(REPO)  # configs and data paths are relative to the repository root

from densekd import DistillModule  # noqa: E402
from densekd.core.config import load_config  # noqa: E402
from densekd.core.data import DataModule  # noqa: E402
from densekd.core.registry import build, use_scope  # noqa: E402
from densekd.data.kitti import prepare_kitti  # noqa: E402
from densekd.data.lidar_scenes import make_lidar_scenes  # noqa: E402
from densekd.data.shapes import make_shapes_coco  # noqa: E402

warnings.filterwarnings("ignore", message=".*self.log.*")  # steps run outside a Trainer here

# The demo configs log gradient shares every 50 steps; outside a Trainer every step is step 0, so the timed
# steps would all pay for the diagnostic: benchmarks switch it off (bench/grad_share_cost.py times it).
NO_GRAD_SHARES = 0
MIMIC = "configs/demo/faster_rcnn_mimic_shapes.py"  # the detection demo's distillation pair
TEACHER = "configs/demo/faster_rcnn_teacher_shapes.py"


def peak_memory_mb(device):
    return torch.cuda.max_memory_allocated(device) / 2**20


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_growth_mb(fn, *args):
    """Run ``fn(*args)`` while a thread samples this process's RSS; return the peak growth in MiB."""
    baseline, peak, done = rss_mb(), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    fn(*args)
    done.set()
    sampler.join()
    return max(peak[0], rss_mb()) - baseline


def train_step(module):
    """``batch -> None``: one optimizer step of a DistillModule ``module`` on ``batch``, outside a Trainer."""
    optimizer = module.configure_optimizers()["optimizer"]

    def step(batch):
        optimizer.zero_grad(set_to_none=True)
        module.training_step(batch, 0).backward()
        optimizer.step()
    return step


def teacher_forward(module):
    """``batch -> None``: the teacher's forward of a DistillModule ``module`` on ``batch`` (preprocessed as the
    student's, no grad): the floor of any distillation step that runs this teacher."""

    @torch.no_grad()
    def forward(batch):
        data = module.student.data_preprocessor(batch, training=True)
        module._run_teacher(data["inputs"])
    return forward


def detection_mimic_config(root, batch_size, **options):
    """The detection demo's mimic config on 16 generated shapes images under ``root``, its teacher a randomly
    initialised one saved there (timings do not need a trained teacher); ``options``: more overrides."""
    make_shapes_coco(os.path.join(root, "shapes"), num_train=16, num_val=2, num_test=2, seed=0)
    teacher_ckpt = os.path.join(root, "teacher.pth")
    torch.save({"state_dict": DistillModule.from_config(load_config(TEACHER)).student.state_dict()}, teacher_ckpt)
    return load_config(MIMIC, {"train_dataloader.dataset.data_root": os.path.join(root, "shapes/"),
                               "train_dataloader.batch_size": batch_size, "train_dataloader.num_workers": 0,
                               "teacher.checkpoint": teacher_ckpt, "train_cfg.grad_share_interval": NO_GRAD_SHARES,
                               **options})


def lidar_demo_data(root):
    """16 generated training scenes in the KITTI layout under ``root`` (prepared: infos + GT database)."""
    if not os.path.isfile(os.path.join(root, "kitti_infos_train.json")):
        make_lidar_scenes(root, num_train=16, num_val=2, num_test=2, seed=0)
        prepare_kitti(root)
    return root


def random_lidar_teacher(directory):
    """The 3D demo teacher's network with random weights, saved under ``directory``; its checkpoint path."""
    cfg = load_config("configs/demo/pointpillars_teacher_lidar.py")
    use_scope(cfg)
    path = os.path.join(directory, "teacher.pth")
    torch.save({"state_dict": build(cfg.model).state_dict()}, path)
    return path


def build_lidar(config, root, batch_size, options=None):
    """(training module, its train loader) of ``config`` (with ``options``) on the scenes at ``root``; a
    distillation config gets its teacher when ``options`` name the teacher's checkpoint."""
    options = {"train_dataloader.batch_size": batch_size, "train_dataloader.num_workers": 0,
               "train_cfg.grad_share_interval": NO_GRAD_SHARES, **(options or {})}
    cfg = load_config(config, options)
    dataset = cfg.train_dataloader.dataset
    dataset = dataset.get("dataset", dataset)  # KITTI's configs wrap it in a RepeatDataset
    dataset.data_root = root
    for step in dataset.pipeline:
        if "db_sampler" in step:
            step.db_sampler.update(data_root=root, info_path=os.path.join(root, "kitti_dbinfos_train.json"))
    module = DistillModule.from_config(cfg, with_teacher="teacher.checkpoint" in options)
    return module, iter(DataModule(cfg, splits=("train",)).train_dataloader())

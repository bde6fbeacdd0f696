"""`custom_imports = dict(imports=['densekd'])` in a plain mmdet config registers densekd's parts."""
import subprocess
import sys

from conftest import REPO

SCRIPT = """
import sys
from mmengine.config import Config
from mmdet.registry import MODELS
assert 'densekd' not in sys.modules
cfg = Config.fromfile(sys.argv[1])
assert 'densekd' in sys.modules
distiller = MODELS.build(cfg.distiller)
loss = MODELS.build(cfg.loss)
print(type(distiller).__name__, type(loss).__name__, type(distiller.loss).__name__)
"""

CONFIG = """
custom_imports = dict(imports=['densekd'], allow_failed_imports=False)
distiller = dict(type='FeatureMimicDistiller', student_features=['neck[0]'],
                 teacher_features=['neck[0]'], loss=dict(type='FeatureL1Loss'))
loss = dict(type='DiceDiversityLoss')
"""


def test_mmdet_config_builds_densekd_components(tmp_path):
    config = tmp_path / "plugin_cfg.py"
    config.write_text(CONFIG)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(config)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["FeatureMimicDistiller", "DiceDiversityLoss", "FeatureL1Loss"]

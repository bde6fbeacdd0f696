"""The teacher runs on a copy of the batch: a model that writes into its inputs (mmdet3d's PointPillars
encoder overwrites the voxels' xyz) must not change what the student then trains on."""
import torch
from torch import nn

from densekd import DistillModule, FeatureMimicDistiller


class WritesIntoItsInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3, 3)

    def extract_feat(self, inputs):
        points = inputs["voxels"]["voxels"]
        seen = points.clone()
        points -= 1.0  # in place, like PillarFeatureNet's legacy voxel-centre offsets
        return self.layer(seen)


def test_a_teacher_that_writes_into_its_inputs_leaves_the_students_batch_alone():
    distiller = FeatureMimicDistiller(["layer"], ["layer"], channels=[(3, 3)])
    module = DistillModule(student=WritesIntoItsInputs(), teacher=WritesIntoItsInputs(), distiller=distiller)
    inputs = {"voxels": {"voxels": torch.ones(4, 3), "num_points": torch.tensor([1, 2, 3, 4])}, "points": [torch.ones(2)]}
    with module.teacher_recorder:
        module._run_teacher(inputs)
    assert torch.equal(inputs["voxels"]["voxels"], torch.ones(4, 3))  # the student will see the points as loaded
    expected = module.teacher.layer(torch.ones(4, 3))
    torch.testing.assert_close(module.teacher_recorder.records["layer"], expected)  # the teacher saw them too

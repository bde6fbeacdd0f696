"""Export the student alone, in its own library's form (mmdet, mmseg): a checkpoint plus a standalone config.

    python tools/export_student.py CONFIG CHECKPOINT OUT_DIR

    from mmdet.apis import init_detector, inference_detector      # a detector (default_scope mmdet)
    model = init_detector('OUT_DIR/student_config.py', 'OUT_DIR/student.pth')
    from mmseg.apis import init_model, inference_model            # a segmentor (default_scope mmseg)
    model = init_model('OUT_DIR/student_config.py', 'OUT_DIR/student.pth')

Neither densekd, the teacher nor the distiller's adapters are needed to load the result —
except where the student itself has densekd parts (OADP's text-embedding classifier and RoI head):
then the config imports densekd as a plugin, the distillation-only branches are left out
and the class text embeddings are copied next to the weights.
"""
import argparse

from densekd.core.cli import run
from densekd.core.export import export_student


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("checkpoint")
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    weights, config = export_student(args.config, args.checkpoint, args.out_dir)
    print(f"student weights: {weights}\nstudent config:  {config}")


if __name__ == "__main__":
    run(main)

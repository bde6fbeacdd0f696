from setuptools import find_packages, setup

setup(
    name="densekd",
    version="0.1.0",
    description="Knowledge distillation for dense prediction: OADP, ACAM-KD, PointDistiller.",
    packages=find_packages(include=["densekd", "densekd.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.1",
        "mmcv>=2.0.0,<2.2.0",
        "mmdet>=3.0,<3.4",
        "mmengine>=0.10",
        "lightning>=2.2",
        "torchmetrics",
        "open_clip_torch",
        "safetensors",
        "filelock",  # also a dependency of torch
        "faster-coco-eval",
        "pycocotools",
        "scipy",
    ],
    extras_require={
        "cpu": ["spconv"],
        # CUDA machines: pick the spconv wheel matching your CUDA toolkit.
        "cuda": ["spconv-cu126"],
    },
)

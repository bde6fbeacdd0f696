"""OAKE throughput: object embeddings per second, proposals batched vs one forward per proposal.

    python bench/oake_throughput.py [--model ViT-B-32-quickgelu] [--proposals 32] [--device cuda]

Same model (random weights: speed does not depend on them), same image and proposals, both
orders interleaved in one run; prints medians and the ratio. Also writes a cache of N synthetic
images both as densekd's safetensors shards and in the reference's layout (one fp16 ``.pth`` per
image per kind: global, blocks, objects) and prints the bytes per image of each.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from densekd.ovd.clip_teacher import ObjectAwareCLIP  # noqa: E402
from densekd.ovd.feature_store import FeatureStore, write_store  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32-quickgelu")
    parser.add_argument("--model-config-file")
    parser.add_argument("--proposals", type=int, default=32, help="proposals per image")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    parser.add_argument("--cache-images", type=int, default=32, help="images in the cache-size comparison")
    parser.add_argument("--cache-proposals", type=int, default=100, help="objects per image in that cache")
    return parser.parse_args(argv)


def random_proposals(count, height, width, generator):
    """``(count, 4)`` boxes of 8 px to half the image, inside it."""
    wh = torch.rand(count, 2, generator=generator) * torch.tensor([width / 2 - 8, height / 2 - 8]) + 8
    xy = torch.rand(count, 2, generator=generator) * (torch.tensor([width, height]) - wh)
    return torch.cat([xy, xy + wh], dim=1)


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def throughput(args):
    device = torch.device(args.device)
    teacher = ObjectAwareCLIP(args.model, model_config_file=args.model_config_file).to(device)
    if args.dtype == "float16":
        teacher.clip.half()
    generator = torch.Generator().manual_seed(0)
    height, width = args.image_size
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator).to(device)
    boxes = random_proposals(args.proposals, height, width, generator).to(device)

    def run(batch_size):
        teacher.batch_size = batch_size
        return teacher.encode_objects(image, boxes)

    exact = args.dtype == "float32" and device.type == "cpu"  # GPU kernels may differ with batch size (TF32)
    torch.testing.assert_close(run(args.proposals), run(1), rtol=0, atol=1e-4 if exact else 1e-2)
    batched, single = [], []
    for _ in range(args.repeats):  # interleaved, so drifts in machine speed hit both alike
        batched.append(timed(lambda: run(args.proposals), device))
        single.append(timed(lambda: run(1), device))
    b, s = statistics.median(batched), statistics.median(single)
    print(f"model {args.model} ({args.dtype}) on {device}, image {width}x{height}, {args.proposals} proposals, "
          f"{args.repeats} interleaved repeats, medians:")
    print(f"  batched:            {b:.3f} s  -> {args.proposals / b:.1f} objects/s")
    print(f"  one per proposal:   {s:.3f} s  -> {args.proposals / s:.1f} objects/s")
    print(f"  speed-up batched / one-by-one: {s / b:.2f}x")
    return teacher.embed_dim


def reference_layout_bytes(folder, features):
    """Bytes of the reference's layout: ``global/ID.pth``, ``blocks/ID.pth``, ``objects/ID.pth`` (fp16)."""
    apparent = allocated = 0
    for image_id, f in features.items():
        kinds = {
            "globals": f["global"].half(),
            "blocks": dict(embeddings=f["blocks"].half(), bboxes=f["block_boxes"].half()),
            "objects": dict(embeddings=f["objects"].half(), bboxes=f["object_boxes"].half(),
                            objectness=f["objectness"].half()[:, None]),
        }
        for kind, value in kinds.items():
            path = os.path.join(folder, kind, f"{image_id:012d}.pth")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            torch.save(value, path)
            stat = os.stat(path)
            apparent += stat.st_size
            allocated += stat.st_blocks * 512
    return apparent, allocated


def store_bytes(folder):
    files = [os.path.join(folder, name) for name in os.listdir(folder)]
    return sum(os.stat(p).st_size for p in files), sum(os.stat(p).st_blocks * 512 for p in files)


def _synthetic_worker(device, dim, proposals):
    """Random unit embeddings with the shapes a 640x480 image gives (27 blocks)."""
    def features(image_id):
        g = torch.Generator().manual_seed(image_id)
        unit = lambda n: torch.nn.functional.normalize(torch.randn(n, dim, generator=g), dim=-1)  # noqa: E731
        return {"global": unit(1)[0].half(), "blocks": unit(27).half(), "block_boxes": torch.rand(27, 4, generator=g),
                "objects": unit(proposals).half(), "object_boxes": torch.rand(proposals, 4, generator=g),
                "objectness": torch.rand(proposals, generator=g)}
    return features


def cache_sizes(args, dim):
    import functools

    with tempfile.TemporaryDirectory() as tmp:
        ids = list(range(1, args.cache_images + 1))
        worker = functools.partial(_synthetic_worker, dim=dim, proposals=args.cache_proposals)
        write_store(os.path.join(tmp, "ours"), ids, worker, metadata={"kind": "bench"}, shard_size=64)
        ours = store_bytes(os.path.join(tmp, "ours"))
        store = FeatureStore(os.path.join(tmp, "ours"))
        reference = reference_layout_bytes(os.path.join(tmp, "reference"), {i: store.get(i) for i in ids})
    n = len(ids)
    print(f"cache of {n} images ({dim}-d, 27 blocks, {args.cache_proposals} objects each), bytes per image:")
    print(f"  densekd shards (safetensors): {ours[0] / n:,.0f} apparent, {ours[1] / n:,.0f} on disk")
    print(f"  reference (.pth per kind):    {reference[0] / n:,.0f} apparent, {reference[1] / n:,.0f} on disk")
    print(f"  reference / densekd on disk: {reference[1] / ours[1]:.2f}x")


def main(argv=None):
    args = parse_args(argv)
    torch.set_grad_enabled(False)
    dim = throughput(args)
    cache_sizes(args, dim)


if __name__ == "__main__":
    main()

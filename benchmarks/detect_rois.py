"""Region classification speed: one region per forward pass (seed S1's loop) vs batched crops vs roi_align.

The same proposals (a `propose-regions --no-add-gt` table) are classified three ways:

* ``loop``  — crop mode, one region per forward pass (the seed's test-time loop);
* ``crop``  — crop mode, every region of an image cut in one roi_align call and classified in batches;
* ``align`` — the align detector's backbone runs once per image, regions pooled from its feature map.

``loop`` and ``crop`` use the crop MODEL, ``align`` the roi_align ALIGN model (trained on the frozen
backbone of MODEL). Prints regions per second for each and the ratios. Example (after `make detect-demo`):

    python benchmarks/detect_rois.py artifacts/detect-demo/detector.safetensors \
        artifacts/detect-demo/detector-align.safetensors artifacts/detect-demo/test-proposals.parquet --images 20
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from nnlab.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="crop-mode detector artifact")
    parser.add_argument("align", type=Path, help="roi_align detector artifact")
    parser.add_argument("proposals", type=Path, help="proposals table of the images to classify")
    parser.add_argument("--images", type=int, default=20, help="images to classify (default 20)")
    parser.add_argument("--loop-regions", type=int, default=400, help="regions timed in the one-per-pass loop")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from nnlab import artifacts
    from nnlab.detection import voc
    from nnlab.detection.align import roi_head
    from nnlab.detection.dataset import image_to_tensor
    from nnlab.detection.roi import classify_crops, crop_regions

    model = load_model(args.model).eval()
    align = roi_head(load_model(args.align)).eval()
    df, meta = artifacts.load_table(args.proposals, table="proposals")
    root = Path(meta["image_root"])
    files = list(dict.fromkeys(df["file"]))[: args.images]
    images = {f: image_to_tensor(voc.read_image(root / f), model.spec.channels) for f in files}
    boxes = {f: df.loc[df["file"] == f, ["x1", "y1", "x2", "y2"]].to_numpy(np.float32) for f in files}
    total = sum(len(b) for b in boxes.values())
    size = model.spec.size

    with torch.inference_mode():
        # warm-up, so that lazy initialisation is not timed
        f0 = files[0]
        classify_crops(model, images[f0], boxes[f0][:8], size)
        align.predict_proba(images[f0], boxes[f0][:8])

        done, t0 = 0, time.perf_counter()
        for f in files:
            for box in boxes[f]:
                model(crop_regions(images[f], box[None], size)).softmax(1)
                done += 1
                if done >= args.loop_regions:
                    break
            if done >= args.loop_regions:
                break
        loop_rate = done / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        for f in files:
            classify_crops(model, images[f], boxes[f], size, batch=args.batch)
        crop_rate = total / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        for f in files:
            align.predict_proba(images[f], boxes[f], batch=args.batch)
        align_rate = total / (time.perf_counter() - t0)

    print(f"{len(files)} images, {total} regions (loop timed on {done}), torch threads {torch.get_num_threads()}")
    print(f"{'mode':<8}{'regions/s':>12}{'vs loop':>10}")
    for name, rate in (("loop", loop_rate), ("crop", crop_rate), ("align", align_rate)):
        print(f"{name:<8}{rate:>12.1f}{rate / loop_rate:>9.1f}x")
    print(f"align vs crop: {align_rate / crop_rate:.1f}x")


if __name__ == "__main__":
    main()

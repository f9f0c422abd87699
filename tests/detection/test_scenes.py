from __future__ import annotations

import numpy as np

from nnlab.detection import make_scenes, voc


def test_make_scenes_writes_a_valid_voc_folder(scenes_dir):
    ids = voc.list_images(scenes_dir, None)
    assert len(ids) == 6
    assert {s: len(voc.list_images(scenes_dir, s)) for s in voc.SPLITS} == {"train": 4, "val": 1, "test": 1}
    assert voc.list_images(scenes_dir, "trainval") == voc.list_images(scenes_dir, "train") + voc.list_images(
        scenes_dir, "val"
    )
    for image_id in ids:
        image = voc.read_image(voc.image_path(scenes_dir, image_id))
        size, objects = voc.read_annotation(voc.annotation_path(scenes_dir, image_id))
        assert image.shape == (96, 96, 3) and size == (96, 96, 3)
        assert 1 <= len(objects) <= 4
        for obj in objects:
            x1, y1, x2, y2 = obj["box"]
            assert obj["name"] in [str(d) for d in range(10)]
            assert 0 <= x1 < x2 <= 96 and 0 <= y1 < y2 <= 96
            assert y2 - y1 >= 20  # digit heights start at 24 px (the mask's tight box may lose a row or two)


def test_make_scenes_is_deterministic(scenes_dir, tmp_path):
    make_scenes(tmp_path / "again", count=6, size=96, seed=3)
    for image_id in voc.list_images(scenes_dir, None):
        assert (
            voc.annotation_path(scenes_dir, image_id).read_text()
            == voc.annotation_path(tmp_path / "again", image_id).read_text()
        )
        assert np.array_equal(
            voc.read_image(voc.image_path(scenes_dir, image_id)),
            voc.read_image(voc.image_path(tmp_path / "again", image_id)),
        )
    make_scenes(tmp_path / "other", count=2, size=96, seed=4)
    assert (
        voc.annotation_path(tmp_path / "other", "scene_00000").read_text()
        != voc.annotation_path(scenes_dir, "scene_00000").read_text()
    )

from __future__ import annotations

import numpy as np
import pytest

from nnlab.detection import voc
from nnlab.errors import NnlabError

XML = """<annotation><filename>a.jpg</filename>
<size><width>40</width><height>30</height><depth>3</depth></size>
{objects}</annotation>"""
OBJ = (
    "<object><name>{name}</name><difficult>0</difficult>"
    "<bndbox><xmin>{0}</xmin><ymin>{1}</ymin><xmax>{2}</xmax><ymax>{3}</ymax></bndbox></object>"
)


def _write(tmp_path, objects, name="a.xml"):
    path = tmp_path / name
    path.write_text(XML.format(objects="".join(OBJ.format(*box, name=n) for n, box in objects)))
    return path


def test_read_converts_one_based_inclusive_to_zero_based_continuous(tmp_path):
    size, objects = voc.read_annotation(_write(tmp_path, [("cat", (1, 1, 40, 30)), ("dog", (11, 6, 20, 15))]))
    assert size == (40, 30, 3)
    assert objects[0]["box"] == (0.0, 0.0, 40.0, 30.0)  # whole image
    assert objects[1]["box"] == (10.0, 5.0, 20.0, 15.0)  # 10 x 10 pixels
    assert [o["name"] for o in objects] == ["cat", "dog"]


def test_writer_and_reader_round_trip(tmp_path):
    objects = [
        {"name": "3", "box": (0.0, 0.0, 12.0, 7.0), "difficult": False},
        {"name": "x", "box": (5.0, 9.0, 40.0, 30.0), "difficult": True},
    ]
    path = voc.write_annotation(tmp_path / "Annotations" / "b.xml", "b.jpg", (40, 30, 3), objects)
    size, back = voc.read_annotation(path)
    assert size == (40, 30, 3)
    assert back == objects
    assert "<xmin>1</xmin>" in path.read_text() and "<xmax>12</xmax>" in path.read_text()


def test_boxes_outside_the_image_are_clipped_and_empty_ones_dropped(tmp_path):
    _, objects = voc.read_annotation(_write(tmp_path, [("a", (-5, 3, 60, 50)), ("b", (45, 1, 60, 10))]))
    assert len(objects) == 1
    assert objects[0]["box"] == (0.0, 2.0, 40.0, 30.0)


@pytest.mark.parametrize(
    "text",
    [
        "<annotation><size><width>4",  # truncated XML
        "<annotation><object><name>a</name></object></annotation>",  # no size
        XML.format(objects="<object><name>a</name></object>"),  # no bndbox
        XML.format(objects=OBJ.format("one", 1, 2, 3, name="a")),  # not a number
    ],
)
def test_malformed_annotation_error_names_the_file(tmp_path, text):
    path = tmp_path / "broken_17.xml"
    path.write_text(text)
    with pytest.raises(NnlabError, match="broken_17.xml"):
        voc.read_annotation(path)


def test_image_write_read_round_trip_and_corrupt_image(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (13, 17, 3), dtype=np.uint8)
    path = voc.write_image(tmp_path / "JPEGImages" / "x.png", image)
    assert np.array_equal(voc.read_image(path), image)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(NnlabError, match="bad.jpg"):
        voc.read_image(bad)


def test_split_listing_and_ground_truth(scenes_dir):
    ids = {s: voc.list_images(scenes_dir, s) for s in voc.SPLITS}
    assert sorted(sum(ids.values(), [])) == voc.list_images(scenes_dir, None)
    gt = voc.read_ground_truth(scenes_dir, ids["train"])
    assert set(gt["image"]) <= set(ids["train"]) and len(gt) >= len(ids["train"])
    with pytest.raises(NnlabError, match="nosuch"):
        voc.list_images(scenes_dir, "nosuch")

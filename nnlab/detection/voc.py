"""Read and write Pascal-VOC folders (``JPEGImages/``, ``Annotations/``, ``ImageSets/Main/``).

Box convention
--------------
VOC XML stores 1-based, *inclusive* pixel indices: ``xmin=1, xmax=W`` covers the whole image.
Everywhere else nnlab uses continuous 0-based corner coordinates ``(x1, y1, x2, y2)`` in which
pixel ``i`` spans ``[i, i+1)``, as torchvision and COCO do, so that ``image[y1:y2, x1:x2]`` is
the box's crop and ``x2 - x1`` is its width. The conversion is::

    x1 = xmin - 1    y1 = ymin - 1    x2 = xmax    y2 = ymax        (reading)
    xmin = x1 + 1    ymin = y1 + 1    xmax = x2    ymax = y2        (writing, after rounding)

so integer boxes round-trip exactly. Boxes are clipped to ``[0, W] x [0, H]`` when read;
a box left with no area is dropped.

Images are returned as RGB ``uint8`` arrays of shape H x W x 3 (OpenCV reads BGR; we convert).
Every file is written through :func:`nnlab.artifacts.atomic_path`.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from nnlab.artifacts import atomic_path
from nnlab.detection._search import read_image  # noqa: F401  (cv2-only, shared with workers)
from nnlab.errors import NnlabError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG")
SPLITS = ("train", "val", "test")

Box = tuple[float, float, float, float]


def image_dir(voc_dir: str | os.PathLike) -> Path:
    """The folder holding a VOC folder's images (``JPEGImages``)."""
    return Path(voc_dir) / "JPEGImages"


def annotation_path(voc_dir: str | os.PathLike, image_id: str) -> Path:
    """Path of the XML annotation of ``image_id`` (it may not exist)."""
    return Path(voc_dir) / "Annotations" / f"{image_id}.xml"


def has_annotations(voc_dir: str | os.PathLike) -> bool:
    """True when the folder has an ``Annotations`` folder with at least one XML file."""
    folder = Path(voc_dir) / "Annotations"
    return folder.is_dir() and any(folder.glob("*.xml"))


def image_path(voc_dir: str | os.PathLike, image_id: str) -> Path:
    """Path of the image file of ``image_id``: ``JPEGImages/<id>.jpg`` or another common suffix."""
    folder = image_dir(voc_dir)
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{image_id}{suffix}"
        if candidate.exists():
            return candidate
    raise NnlabError(f"image {image_id!r} not found in {folder}")


def list_images(voc_dir: str | os.PathLike, split: str | None = None) -> list[str]:
    """Image ids of a split (``ImageSets/Main/<split>.txt``), or of every image when ``split`` is None/"all".

    Checking the folder here gives the user one clear error instead of a failure deep in a pipeline.
    """
    root = Path(voc_dir)
    if not root.is_dir():
        raise NnlabError(f"VOC folder {root} does not exist")
    if split is None or split == "all":
        folder = image_dir(root)
        if not folder.is_dir():
            raise NnlabError(f"{root} is not a VOC folder: it has no JPEGImages folder")
        ids = sorted({p.stem for p in folder.iterdir() if p.suffix in IMAGE_SUFFIXES})
    else:
        split_file = root / "ImageSets" / "Main" / f"{split}.txt"
        if not split_file.is_file():
            raise NnlabError(f"split {split!r} not found: {split_file} does not exist")
        ids = [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]
    if not ids:
        raise NnlabError(f"no images in {root}" + (f" split {split!r}" if split not in (None, "all") else ""))
    return ids


def write_split(voc_dir: str | os.PathLike, split: str, image_ids: Iterable[str]) -> Path:
    """Write ``ImageSets/Main/<split>.txt`` (one image id per line)."""
    path = Path(voc_dir) / "ImageSets" / "Main" / f"{split}.txt"
    text = "".join(f"{i}\n" for i in image_ids)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def clip_box(box: Sequence[float], width: int, height: int) -> Box:
    """Clip a ``(x1, y1, x2, y2)`` box to the image ``[0, width] x [0, height]``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height))


def _text(node: ET.Element, tag: str, path: Path) -> str:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise NnlabError(f"malformed annotation {path}: missing <{tag}>")
    return child.text.strip()


def _number(node: ET.Element, tag: str, path: Path) -> float:
    value = _text(node, tag, path)
    try:
        return float(value)
    except ValueError:
        raise NnlabError(f"malformed annotation {path}: <{tag}> is {value!r}, not a number") from None


def read_annotation(path: str | os.PathLike) -> tuple[tuple[int, int, int], list[dict]]:
    """Parse one VOC XML file into ``((width, height, depth), objects)``.

    Each object is ``{"name": str, "box": (x1, y1, x2, y2), "difficult": bool}`` in nnlab's 0-based
    continuous convention (see the module docstring), clipped to the image; objects whose clipped
    box has no area are dropped. Anything unparsable raises one NnlabError naming the file.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise NnlabError(f"annotation {path} does not exist") from None
    except (ET.ParseError, UnicodeDecodeError) as exc:
        raise NnlabError(f"malformed annotation {path}: {exc}") from None
    size_node = root.find("size")
    if size_node is None:
        raise NnlabError(f"malformed annotation {path}: missing <size>")
    width, height = int(_number(size_node, "width", path)), int(_number(size_node, "height", path))
    depth_node = size_node.find("depth")
    depth = int(float(depth_node.text)) if depth_node is not None and (depth_node.text or "").strip() else 3
    if width <= 0 or height <= 0:
        raise NnlabError(f"malformed annotation {path}: image size {width}x{height}")
    objects = []
    for obj in root.findall("object"):
        name = _text(obj, "name", path)
        bnd = obj.find("bndbox")
        if bnd is None:
            raise NnlabError(f"malformed annotation {path}: object {name!r} has no <bndbox>")
        xmin, ymin, xmax, ymax = (_number(bnd, t, path) for t in ("xmin", "ymin", "xmax", "ymax"))
        box = clip_box((xmin - 1, ymin - 1, xmax, ymax), width, height)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        difficult = obj.find("difficult")
        objects.append(
            {
                "name": name,
                "box": box,
                "difficult": difficult is not None and (difficult.text or "0").strip() == "1",
            }
        )
    return (width, height, depth), objects


def annotation_xml(
    filename: str, size: tuple[int, int, int], objects: Sequence[dict], folder: str = "JPEGImages"
) -> str:
    """The VOC XML text for one image; ``objects`` as returned by :func:`read_annotation`."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = filename
    size_node = ET.SubElement(root, "size")
    for tag, value in zip(("width", "height", "depth"), size, strict=False):
        ET.SubElement(size_node, tag).text = str(int(value))
    ET.SubElement(root, "segmented").text = "0"
    for obj in objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = str(obj["name"])
        ET.SubElement(node, "pose").text = "Unspecified"
        ET.SubElement(node, "truncated").text = "0"
        ET.SubElement(node, "difficult").text = "1" if obj.get("difficult") else "0"
        x1, y1, x2, y2 = (int(round(float(v))) for v in obj["box"])
        bnd = ET.SubElement(node, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), (x1 + 1, y1 + 1, x2, y2), strict=False):
            ET.SubElement(bnd, tag).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def write_annotation(
    path: str | os.PathLike, filename: str, size: tuple[int, int, int], objects: Sequence[dict]
) -> Path:
    """Write one VOC XML annotation atomically (boxes rounded to whole pixels)."""
    with atomic_path(path) as tmp:
        tmp.write_text(annotation_xml(filename, size, objects))
    return Path(path)


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Encode an RGB (or gray) ``uint8`` image by the path's suffix (JPEG/PNG) and write it atomically."""
    path = Path(path)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(path.suffix or ".png", bgr, params)
    if not ok:
        raise NnlabError(f"cannot encode image for {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return path


def read_ground_truth(voc_dir: str | os.PathLike, image_ids: Sequence[str]) -> "pandas.DataFrame":  # noqa: F821
    """Ground-truth boxes of many images as a DataFrame: image, x1, y1, x2, y2, class, difficult.

    Images without an annotation file contribute no rows (a missing file is not an error here,
    because detection can run on folders that are only partly annotated).
    """
    import pandas as pd

    rows = []
    for image_id in image_ids:
        path = annotation_path(voc_dir, image_id)
        if not path.exists():
            continue
        _, objects = read_annotation(path)
        for obj in objects:
            x1, y1, x2, y2 = obj["box"]
            rows.append((image_id, x1, y1, x2, y2, obj["name"], obj["difficult"]))
    return pd.DataFrame(rows, columns=["image", "x1", "y1", "x2", "y2", "class", "difficult"]).astype(
        {"x1": "float32", "y1": "float32", "x2": "float32", "y2": "float32"}
    )


def class_names(voc_dir: str | os.PathLike) -> list[str]:
    """Every object name in the folder's annotations, in natural order ("2" before "10")."""
    names: set[str] = set()
    for path in sorted((Path(voc_dir) / "Annotations").glob("*.xml")):
        names.update(obj["name"] for obj in read_annotation(path)[1])
    return natural_sorted(names)


def natural_sorted(names: Iterable[str]) -> list[str]:
    """Sort names so that numeric ones come in numeric order, then the others alphabetically."""
    return sorted(names, key=lambda n: (0, int(n), "") if n.isdigit() else (1, 0, n))

"""Importers from common label formats (COCO JSON, Pascal VOC XML, defect masks) to the YOLO layout.

Each importer validates all of its input first, then copies the images into OUT/images/, writes one
label file per image into OUT/labels/ (an empty file for a defect-free image) and OUT/data.yaml.
"""

from loomsight.datasets.importers.coco import import_coco
from loomsight.datasets.importers.common import ImportSummary
from loomsight.datasets.importers.masks import MaskValues, import_masks, merge_close_boxes
from loomsight.datasets.importers.voc import import_voc

__all__ = [
    "ImportSummary",
    "MaskValues",
    "import_coco",
    "import_masks",
    "import_voc",
    "merge_close_boxes",
]

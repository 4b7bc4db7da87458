"""A stand-in for OpenCV's ``cv2`` (not a dependency of xpnet): the calls the book's
chapters 19-22 make, on Pillow (which matplotlib brings).

The test puts this folder on the chapter scripts' ``PYTHONPATH`` (tests/book/README.md),
so that they keep the book's ``import cv2``. It reads the same pixels OpenCV reads from an
8-bit grey PNG (``IMREAD_UNCHANGED``); its grey conversion and resizing are Pillow's, not
OpenCV's exact pixels: every run of a test reads the images through it, so they compare
like with like.
"""

import numpy as np
from PIL import Image

IMREAD_UNCHANGED = -1
IMREAD_GRAYSCALE = 0
IMREAD_COLOR = 1


def imread(filename, flags=IMREAD_COLOR):
    """The image at ``filename`` as a uint8 array, or None when it cannot be read (as
    OpenCV's ``imread`` returns)."""
    try:
        image = Image.open(filename)
        image.load()
    except OSError:
        return None
    if flags == IMREAD_GRAYSCALE:
        image = image.convert("L")
    elif flags == IMREAD_COLOR:
        return np.array(image.convert("RGB"))[:, :, ::-1]  # OpenCV's BGR order
    return np.array(image)


def resize(src, dsize):
    """``src`` resized to ``dsize`` = (width, height), bilinear."""
    return np.array(Image.fromarray(np.asarray(src)).resize(tuple(dsize), Image.BILINEAR))

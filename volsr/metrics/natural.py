"""The published evaluation protocol of 2D single-image super-resolution (Set5, Set14, ...).

Papers of the SRCNN / VDSR / EDSR line report PSNR and SSIM computed by MATLAB scripts.
Comparing a network with their tables is only meaningful when the same protocol is used:

1. :func:`modcrop`: crop the HR image to a multiple of the scale ``s`` (top-left part).
2. :func:`matlab_imresize`: make the LR image with MATLAB ``imresize(hr, 1/s, 'bicubic')``:
   the Keys cubic (a = -0.5) widened by ``s`` when shrinking (antialiasing), point sampled,
   rows normalised to 1, half-sample symmetric borders, rows resized before columns
   (MATLAB's order when both axes share the scale), and -- for ``uint8`` images --
   rounding to ``uint8`` after each one-dimensional pass. The weights come from volsr's own
   :func:`volsr.resample.profile_matrix` (``profile="cubic"``), whose grid convention is
   MATLAB's; this module only adds the MATLAB output size, pass order and ``uint8``
   rounding.
3. :func:`rgb_to_y`: the Y channel of ITU-R BT.601 YCbCr as MATLAB ``rgb2ycbcr``:
   ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with R, G, B in [0, 1]. Grayscale images
   are used as they are, as "Y" (:func:`image_y`).
4. :func:`psnr_y` / :func:`ssim_y`: PSNR (peak 255) and SSIM on Y after cropping ``s``
   pixels of border; SSIM as Wang et al.'s MATLAB ``ssim_index`` (11x11 Gaussian window,
   sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, population statistics, mean over the
   "valid" part of the SSIM map).

With this protocol, bicubic upsampling of the LR image reproduces the published bicubic
baselines (e.g. Set5 33.66 / 30.39 / 28.42 dB at x2 / x3 / x4; checked in
``tests/metrics/test_natural_protocol.py``).

Images are numpy arrays of shape ``(H, W)`` (grayscale) or ``(H, W, C)`` (RGB), rows first,
values in [0, 255] (``uint8``, or float on the same scale).

References:
    R. Keys, "Cubic convolution interpolation for digital image processing", IEEE Trans.
    ASSP 29(6), 1981.
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
    error visibility to structural similarity", IEEE TIP 13(4), 2004.
    C. Dong, C. C. Loy, K. He, X. Tang, "Image super-resolution using deep convolutional
    networks", IEEE TPAMI 38(2), 2016 (the evaluation protocol).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from volsr.metrics.core import psnr, ssim_map
from volsr.resample import apply_along_axis, profile_matrix

__all__ = [
    "IMAGE_SUFFIXES",
    "PEAK",
    "PROTOCOLS",
    "image_y",
    "iter_image_set",
    "lr_hr_y",
    "make_lr",
    "matlab_imresize",
    "modcrop",
    "psnr_y",
    "quantize",
    "rgb_to_y",
    "score_y",
    "shave",
    "ssim_y",
]

log = logging.getLogger(__name__)

PEAK = 255.0
"""Peak value of the published PSNR (8-bit images)."""

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
"""File suffixes :func:`iter_image_set` reads (case-insensitive)."""

PROTOCOLS = ("y", "rgb")
"""How LR images are made and scored; see :func:`lr_hr_y`."""

_SSIM_RADIUS = 5  # the 11x11 window of ssim_index: sigma 1.5, volsr's truncation 3.5 sigma


def _check_scale(scale: int) -> int:
    s = int(scale)
    if s != scale or s < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    return s


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop an image to a multiple of ``scale`` rows and columns, keeping the top-left part.

    Args:
        img: image ``(H, W)`` or ``(H, W, C)``.
        scale: integer SR factor ``s``.

    Returns:
        View ``(H - H % s, W - W % s[, C])`` (MATLAB ``modcrop``).
    """
    s = _check_scale(scale)
    a = np.asarray(img)
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an image (H, W) or (H, W, C), got shape {a.shape}")
    h, w = a.shape[0] - a.shape[0] % s, a.shape[1] - a.shape[1] % s
    if h == 0 or w == 0:
        raise ValueError(f"image of shape {a.shape} is smaller than the scale {s}")
    return a[:h, :w]


def shave(img: np.ndarray, border: int) -> np.ndarray:
    """Remove ``border`` pixels from each side of the two image axes.

    Args:
        img: image ``(H, W)`` or ``(H, W, C)``.
        border: pixels to drop on every side (0 keeps the image).

    Returns:
        View ``(H - 2 border, W - 2 border[, C])``.
    """
    b = int(border)
    a = np.asarray(img)
    if b < 0 or 2 * b >= min(a.shape[0], a.shape[1]):
        raise ValueError(f"cannot crop a border of {border} from an image of shape {a.shape}")
    return a[b:a.shape[0] - b, b:a.shape[1] - b] if b else a


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """Luma Y of ITU-R BT.601 YCbCr, as MATLAB ``rgb2ycbcr`` (studio range 16..235).

    ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with R, G, B in [0, 1], i.e. on the
    [0, 255] scale ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255``. Not rounded
    (MATLAB rounds when the input is ``uint8``; see :func:`quantize`).

    Args:
        rgb: ``(H, W, 3)``, values in [0, 255] (``uint8`` or float).

    Returns:
        float64 ``(H, W)``, values in [16, 235] for inputs in [0, 255].
    """
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {a.shape}")
    a = a.astype(np.float64)
    return 16.0 + (65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255.0


def image_y(img: np.ndarray) -> np.ndarray:
    """The "Y" the published scripts score: BT.601 Y of RGB, a grayscale image as it is.

    Args:
        img: ``(H, W, 3)`` RGB or ``(H, W)`` / ``(H, W, 1)`` grayscale, in [0, 255].

    Returns:
        float64 ``(H, W)``. Grayscale is *not* mapped to 16..235 (as MATLAB scripts that
        use a single-channel image directly as Y, e.g. Set14 ``bridge``).
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return a.astype(np.float64)
    return rgb_to_y(a)


def quantize(img: np.ndarray) -> np.ndarray:
    """Round half away from zero and clip to [0, 255], as MATLAB's cast to ``uint8``.

    Returns:
        float64 array of the input shape with integer values.
    """
    a = np.asarray(img, dtype=np.float64)
    return np.clip(np.floor(np.abs(a) + 0.5) * np.sign(a), 0.0, 255.0)


def _matlab_out_size(n: int, scale: float) -> int:
    # MATLAB: ceil(scale * n); the tolerance keeps 255 * (1/3) from becoming 86.
    return max(1, int(math.ceil(n * scale - 1e-9)))


def matlab_imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` (antialiasing on, the default).

    Each of the two image axes is resampled with the Keys cubic (a = -0.5), stretched by
    ``1/scale`` when shrinking, point sampled at input pixel centres and normalised, on
    MATLAB's grid (output pixel ``o`` centred at input index ``(o + 1/2)/scale - 1/2``)
    with half-sample symmetric borders. Rows are resized first, then columns (MATLAB
    sorts the axes by scale, stably, so equal scales keep this order). ``uint8`` input is
    rounded and clipped to ``uint8`` after each pass, as MATLAB does; float input is not
    rounded.

    Args:
        img: ``(H, W)`` or ``(H, W, C)``; ``uint8`` or float.
        scale: output/input size ratio, the same on both axes (``1/3`` shrinks by 3).

    Returns:
        ``(ceil(scale H), ceil(scale W)[, C])``, ``uint8`` for ``uint8`` input, else float64.
    """
    a = np.asarray(img)
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an image (H, W) or (H, W, C), got shape {a.shape}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    is_uint8 = a.dtype == np.uint8
    out = a.astype(np.float64)
    for axis in (0, 1):  # equal scales: MATLAB's stable sort keeps rows first
        n_in = out.shape[axis]
        m = profile_matrix(n_in, float(scale), profile="cubic",
                           n_out=_matlab_out_size(n_in, float(scale)))
        out = apply_along_axis(out, m, axis)
        if is_uint8:
            out = quantize(out)
    return out.astype(np.uint8) if is_uint8 else out


def make_lr(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The published LR input: modcrop, then MATLAB bicubic shrink by ``scale``.

    Args:
        hr: HR image ``(H, W[, C])``, ``uint8``.
        scale: integer SR factor ``s``.

    Returns:
        ``(hr_cropped, lr)``: the modcropped HR ``(sH', sW'[, C])`` and the LR image
        ``(H', W'[, C])`` (same dtype as ``hr``).
    """
    s = _check_scale(scale)
    hr_c = modcrop(hr, s)
    return hr_c, matlab_imresize(hr_c, 1.0 / s)


def psnr_y(truth_y: np.ndarray, cand_y: np.ndarray, scale: int,
           border: int | None = None) -> float:
    """PSNR in dB (peak 255) between two Y images after cropping the border.

    Args:
        truth_y: HR Y ``(H, W)`` in [0, 255].
        cand_y: SR Y of the same shape.
        scale: the SR factor; the default border is ``scale`` pixels.
        border: pixels cropped from each side (overrides ``scale``).

    Returns:
        ``10 log10(255^2 / MSE)``.
    """
    b = _check_scale(scale) if border is None else int(border)
    return psnr(shave(truth_y, b), shave(cand_y, b), data_range=PEAK)


def ssim_y(truth_y: np.ndarray, cand_y: np.ndarray, scale: int,
           border: int | None = None) -> float:
    """SSIM between two Y images after cropping the border, as MATLAB ``ssim_index``.

    Wang et al.'s reference filters with an 11x11 Gaussian (sigma 1.5) in ``'valid'`` mode
    and uses population (co)variances, ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, L = 255.
    This reuses :func:`volsr.metrics.core.ssim_map` (same 11-tap window,
    ``use_sample_covariance=False``) and averages the map without its 5-pixel rim, which
    is where the two differ.

    Args:
        truth_y: HR Y ``(H, W)`` in [0, 255].
        cand_y: SR Y of the same shape.
        scale: the SR factor; the default border is ``scale`` pixels.
        border: pixels cropped from each side before SSIM (overrides ``scale``).

    Returns:
        Mean SSIM (1 for identical images).
    """
    b = _check_scale(scale) if border is None else int(border)
    smap = ssim_map(shave(truth_y, b), shave(cand_y, b), data_range=PEAK, sigma=1.5,
                    k1=0.01, k2=0.03, use_sample_covariance=False)
    return float(np.mean(shave(smap, _SSIM_RADIUS)))


def lr_hr_y(img: np.ndarray, scale: int, protocol: str = "y"
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HR, LR and bicubic-upsampled Y images of one test (or training) image.

    Two variants of the published protocol, which differ by about 0.01 dB:

    * ``"y"`` (default; the MATLAB code released with SRCNN and VDSR): the HR image is
      modcropped and converted to ``uint8`` Y (``rgb2ycbcr`` of ``uint8`` rounds), the LR Y
      is ``imresize(hr_y, 1/s)`` in double precision (not rounded), and the bicubic image
      is ``imresize(lr_y, s)``. Scored by :func:`score_y` after rounding the SR image to
      ``uint8``. Reproduces the published bicubic means (Set5 33.66 / 30.39 / 28.42, Set14
      30.23 / 27.54 / 26.00) to 0.003 dB.
    * ``"rgb"``: the LR and bicubic images are made from the ``uint8`` RGB image, rounding
      to ``uint8`` after each pass, and all Y images are unrounded (the variant of the
      data set's README; 0.01 dB above the published means).

    Args:
        img: HR image ``(H, W, 3)`` or grayscale ``(H, W)``, ``uint8``.
        scale: integer SR factor ``s``.
        protocol: ``"y"`` or ``"rgb"``.

    Returns:
        ``(hr_y, lr_y, bicubic_y)``, float64 on the [0, 255] scale, shapes
        ``(sH', sW')``, ``(H', W')`` and ``(sH', sW')``.
    """
    s = _check_scale(scale)
    if protocol == "y":
        hr_y = quantize(image_y(modcrop(img, s)))
        lr_y = matlab_imresize(hr_y, 1.0 / s)
        return hr_y, lr_y, matlab_imresize(lr_y, float(s))
    if protocol == "rgb":
        hr, lr = make_lr(np.asarray(img, dtype=np.uint8), s)
        return image_y(hr), image_y(lr), image_y(matlab_imresize(lr, float(s)))
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def score_y(hr_y: np.ndarray, sr_y: np.ndarray, scale: int, protocol: str = "y"
            ) -> tuple[float, float]:
    """``(PSNR, SSIM)`` of an SR Y image by the protocol of :func:`lr_hr_y`.

    ``"y"`` rounds the SR image to ``uint8`` first (as the released MATLAB scripts do);
    ``"rgb"`` scores it as it is. Both crop ``scale`` pixels of border.

    Args:
        hr_y: HR Y ``(H, W)`` from :func:`lr_hr_y`.
        sr_y: SR Y of the same shape, [0, 255] scale.
        scale: integer SR factor.
        protocol: ``"y"`` or ``"rgb"``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    sr = quantize(sr_y) if protocol == "y" else np.asarray(sr_y, dtype=np.float64)
    return psnr_y(hr_y, sr, scale), ssim_y(hr_y, sr, scale)


def iter_image_set(folder: str | Path) -> Iterator[tuple[str, np.ndarray]]:
    """Read every image of a benchmark set folder, sorted by file name.

    Args:
        folder: e.g. ``../shared/data/natural/Set5``.

    Yields:
        ``(name, image)``: the file stem and a ``uint8`` array, ``(H, W, 3)`` for colour
        images and ``(H, W)`` for grayscale ones (mode ``L``; use it as Y, see
        :func:`image_y`). An alpha channel is dropped.
    """
    from PIL import Image

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image set folder not found: {root}")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}")
    for path in files:
        with Image.open(path) as im:
            if im.mode in ("L", "I;16", "I", "F"):
                arr = np.asarray(im.convert("L"))
            else:
                arr = np.asarray(im.convert("RGB"))
        log.debug("read %s: shape %s", path.name, arr.shape)
        yield path.stem, np.ascontiguousarray(arr)

"""What the instruments record: spectrometer counts and a SAXS detector image.

Pure numpy. The reactor model (:mod:`msc_bluesky.sim.reactor`) says what the flow cell
holds; these functions turn that into raw instrument data.

Spectrometer
------------
A lamp gives ``reference_rate(λ)`` counts/s through a blank cell; the detector adds a
dark rate. A scan of ``integration_time`` s through a sample of absorbance ``A`` gives
``dark + (reference - dark) 10^-A`` counts, with shot noise and read noise; ``averages``
scans are averaged. Absorbance is ``-log10((S - D) / (R - D))`` with the stored dark and
reference scaled to the sample's integration time.

SAXS detector
-------------
A 128 x 128 pixel detector with the beam in the middle: each pixel's q follows from
the sample-detector distance, pixel size and X-ray wavelength; the image is the
azimuthally constant ``I(q)`` of the curve (beamstop and corners beyond the q range
are 0), so its azimuthal average reproduces the curve.
"""

from __future__ import annotations

import numpy as np

#: Lamp count rate at the brightest wavelength through a blank cell (counts/s).
LAMP_PEAK_RATE = 4.0e5
#: Detector dark rate (counts/s per pixel).
DARK_RATE = 2.0e3
#: Read noise (counts rms per scan).
READ_NOISE = 8.0
#: Smallest transmitted fraction used in the absorbance (caps A at 6).
MIN_TRANSMITTANCE = 1e-6

#: SAXS geometry: X-ray wavelength (nm, 12.5 keV), pixel size (mm), distance (mm).
XRAY_WAVELENGTH_NM = 0.0992
PIXEL_SIZE_MM = 0.172
DETECTOR_DISTANCE_MM = 86.6
IMAGE_SHAPE = (128, 128)
#: Transmission of the flow cell filled with solvent (1 mm octadecene at 12.5 keV).
SOLVENT_TRANSMISSION = 0.78


def reference_rate(wavelength_nm: np.ndarray) -> np.ndarray:
    """Lamp count rate (counts/s) through a blank cell: a halogen band and a UV band."""
    wl = np.asarray(wavelength_nm, dtype=float)
    halogen = np.exp(-0.5 * ((wl - 580.0) / 120.0) ** 2)
    deuterium = 0.45 * np.exp(-0.5 * ((wl - 330.0) / 45.0) ** 2)
    return LAMP_PEAK_RATE * (0.08 + halogen + deuterium) / 1.08


def expected_counts(absorbance: np.ndarray, integration_time_s: float,
                    wavelength_nm: np.ndarray, *, dark_only: bool = False) -> np.ndarray:
    """Mean counts of one scan through a sample of ``absorbance`` (or with the shutter shut)."""
    t = float(integration_time_s)
    dark = np.full(np.shape(wavelength_nm), DARK_RATE * t)
    if dark_only:
        return dark
    light = reference_rate(wavelength_nm) * t * 10.0 ** (-np.asarray(absorbance, dtype=float))
    return dark + light


def measure_counts(absorbance: np.ndarray, integration_time_s: float, averages: int,
                   wavelength_nm: np.ndarray, rng: np.random.Generator | None, *,
                   dark_only: bool = False) -> np.ndarray:
    """Averaged counts of ``averages`` scans, with shot and read noise (noiseless if no rng)."""
    mean = expected_counts(absorbance, integration_time_s, wavelength_nm, dark_only=dark_only)
    if rng is None:
        return mean
    n = max(int(averages), 1)
    sigma = np.sqrt(mean + READ_NOISE**2) / np.sqrt(n)
    return mean + sigma * rng.standard_normal(mean.shape)


def absorbance_from_counts(sample: np.ndarray, integration_time_s: float,
                           dark: np.ndarray, dark_time_s: float,
                           reference: np.ndarray, reference_time_s: float) -> np.ndarray:
    """``-log10((S - D) / (R - D))``, each spectrum scaled to the sample's integration time.

    The dark ``D`` and reference ``R`` may have been recorded with other integration
    times than the sample ``S``: counts are scaled as rates. The transmittance is
    clipped at ``MIN_TRANSMITTANCE`` (absorbance at most 6).
    """
    t = float(integration_time_s)
    d_rate = np.asarray(dark, dtype=float) / float(dark_time_s)
    light_rate = np.asarray(reference, dtype=float) / float(reference_time_s) - d_rate
    s = np.asarray(sample, dtype=float)
    light = np.where(np.abs(light_rate) > 1e-12, light_rate * t, np.nan)
    ratio = np.clip((s - d_rate * t) / light, MIN_TRANSMITTANCE, None)
    return np.nan_to_num(-np.log10(ratio), nan=0.0)


def pixel_q_per_nm(shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """q (nm^-1) of every pixel of the SAXS detector, beam at the image centre."""
    rows, cols = np.indices(shape, dtype=float)
    cy, cx = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    r_mm = np.hypot(rows - cy, cols - cx) * PIXEL_SIZE_MM
    two_theta = np.arctan(r_mm / DETECTOR_DISTANCE_MM)
    return 4.0 * np.pi / XRAY_WAVELENGTH_NM * np.sin(two_theta / 2.0)


def detector_image(q_per_nm: np.ndarray, intensity: np.ndarray,
                   shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """2D image (cm^-1 per pixel) whose azimuthal average is the curve ``I(q)``.

    Log-log interpolation of the curve at each pixel's q; pixels outside the q range of
    the curve (beamstop, corners) are 0. Returned flattened, row-major.
    """
    q = np.asarray(q_per_nm, dtype=float)
    i = np.asarray(intensity, dtype=float)
    qp = pixel_q_per_nm(shape).ravel()
    inside = (qp >= q[0]) & (qp <= q[-1])
    positive = np.clip(i, 1e-30, None)
    image = np.zeros(qp.shape)
    image[inside] = np.exp(np.interp(np.log(qp[inside]), np.log(q), np.log(positive)))
    return image


def sample_transmission(volume_fraction: float, rng: np.random.Generator | None) -> float:
    """Transmission of the filled cell: solvent times CdSe absorption, small noise."""
    t = SOLVENT_TRANSMISSION * float(np.exp(-30.0 * max(volume_fraction, 0.0)))
    if rng is not None:
        t += 0.001 * float(rng.standard_normal())
    return float(np.clip(t, 0.0, 1.0))

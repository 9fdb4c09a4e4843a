"""The pattern classifier and the grid-scale detector on fields whose class is known
by construction (no simulation involved), and the engine's torch twin of the detector."""

import numpy as np
import pytest
import torch

from attractor_lab.engine.analysis import PATTERN_CLASSES
from attractor_lab.engine.analysis.morphology import classify_pattern, front_spacing, nyquist_fraction
from attractor_lab.engine.models.reaction_diffusion._numerics import nyquist_power

N = 128
Y, X = np.mgrid[0:N, 0:N].astype(float)


def plane(mx, my, phase=0.0):
    """cos of a wave with mx, my periods across the periodic domain."""
    return np.cos(2 * np.pi * (mx * X + my * Y) / N + phase)


def hexagons(m=8):
    # three waves at about 120° (wave vectors on the lattice, so the field is periodic)
    return plane(m, 0) + plane(-m // 2, 7 * m // 8) + plane(-m // 2, -7 * m // 8)


def narrow_band(seed, m=10, width=1.0):
    rng = np.random.default_rng(seed)
    my = np.fft.fftfreq(N, 1.0 / N)[:, None]
    mx = np.fft.fftfreq(N, 1.0 / N)[None, :]
    ring = np.exp(-((np.hypot(mx, my) - m) ** 2) / (2 * width**2))
    noise = rng.normal(size=(N, N)) + 1j * rng.normal(size=(N, N))
    f = np.fft.ifft2(ring * noise).real
    return f / f.std()


def test_classes_are_the_documented_ones():
    assert PATTERN_CLASSES == ("uniform", "spots", "stripes", "waves", "chaos")


def test_uniform():
    rng = np.random.default_rng(0)
    assert classify_pattern(2.0 + 1e-6 * rng.normal(size=(N, N))).pattern == "uniform"
    assert classify_pattern(np.zeros((N, N))).pattern == "uniform"


@pytest.mark.parametrize("threshold", [0.0, 0.8, 1.6])  # spots of either phase, small and large
def test_hexagonal_spots(threshold):
    f = np.tanh(4 * (hexagons() - threshold))
    m = classify_pattern(f, f)
    assert m.pattern == "spots", m.summary()
    assert m.round_fraction > 0.9 and m.islands >= 40


def test_straight_and_oblique_stripes():
    for f in (plane(8, 0), plane(5, 3), np.tanh(3 * plane(0, 6))):
        m = classify_pattern(f)
        assert m.pattern == "stripes", m.summary()


def test_labyrinth_is_stripes():
    m = classify_pattern(np.tanh(3 * narrow_band(1) / narrow_band(1).std()))
    assert m.pattern == "stripes", m.summary()


def test_sparse_colony_of_spots_in_an_empty_domain():
    # Gray–Scott early on: a few spots in the middle of a uniform background
    f = np.zeros((N, N))
    for cy, cx in [(50, 50), (50, 70), (70, 60), (64, 40), (40, 62), (75, 80)]:
        f += np.exp(-((Y - cy) ** 2 + (X - cx) ** 2) / 12.0)
    m = classify_pattern(f)
    assert m.pattern == "spots" and m.islands == 6, m.summary()


def test_spots_with_a_few_elongated_ones_are_still_spots_but_many_make_it_mixed():
    spots = np.tanh(4 * (hexagons() - 0.8))
    assert classify_pattern(spots).pattern == "spots"
    half = np.where(X < N / 2, spots, np.tanh(3 * plane(8, 0)))
    assert classify_pattern(half).pattern in ("mixed", "stripes")


def test_travelling_plane_wave_is_waves():
    m = classify_pattern(plane(6, 2, phase=1.0), plane(6, 2, phase=0.0))
    assert m.pattern == "waves" and m.defects == 0, m.summary()
    assert classify_pattern(plane(6, 2), plane(6, 2)).pattern == "stripes"  # the same, frozen


def test_a_rotating_spiral_is_waves():
    # a genuine spiral (there is no smooth periodic one to write down): the λ–ω
    # system from its phase singularity, a few tips in a domain of many wavelengths
    from attractor_lab import engine

    sim = engine.create("lambda_omega", device="cpu", grid=96, length=96.0, dt=0.05, seeding="spiral")
    sim.step(1200)
    earlier = sim.state()["u"].copy()
    sim.step(10)
    m = classify_pattern(sim.state()["u"], earlier)
    assert m.pattern == "waves", m.summary()
    assert 1 <= m.defects <= 6


def test_turbulence_is_chaos():
    # two unrelated narrow-band fields: everything moves, phase defects everywhere
    m = classify_pattern(narrow_band(2), narrow_band(3))
    assert m.pattern == "chaos", m.summary()
    assert m.defect_density > 0.3


def test_growth_in_amplitude_is_not_motion():
    f = np.tanh(4 * (hexagons() - 0.8))
    m = classify_pattern(2.0 * f, f)
    assert m.motion == pytest.approx(0.0, abs=1e-6) and m.pattern == "spots"


def test_front_spacing_of_stripes_is_about_their_wavelength():
    # exact for fronts of random direction; axis-aligned ones come out 4/π longer
    assert N / 8 < front_spacing(plane(8, 0)) < 1.3 * N / 8
    assert 0.8 * N / 10 < front_spacing(narrow_band(4, m=10)) < 1.3 * N / 10


# ---- grid-scale detector ---------------------------------------------------------------
def test_nyquist_fraction_of_known_fields():
    smooth = plane(4, 3)
    checker = np.where((X + Y) % 2 == 0, 1.0, -1.0)
    stripes_x = np.where(X % 2 == 0, 1.0, -1.0)
    assert nyquist_fraction(smooth) < 1e-20
    assert nyquist_fraction(checker) == pytest.approx(1.0)
    assert nyquist_fraction(stripes_x) == pytest.approx(1.0)
    assert nyquist_fraction(smooth + 0.1 * checker) == pytest.approx(0.01 / (0.5 + 0.01), rel=1e-6)
    noise = np.random.default_rng(0).normal(size=(N, N))
    assert nyquist_fraction(noise) == pytest.approx(2.0 / N, rel=0.2)
    assert nyquist_fraction(np.full((N, N), 3.0)) == 0.0


def test_nyquist_fraction_equals_the_fft_definition():
    f = np.random.default_rng(1).normal(size=(64, 48)) + plane(3, 1)[:64, :48]
    power = np.abs(np.fft.fft2(f - f.mean())) ** 2
    lines = power[32, :].sum() + power[:, 24].sum() - power[32, 24]
    assert nyquist_fraction(f) == pytest.approx(lines / power.sum(), rel=1e-10)


def test_nyquist_fraction_1d():
    x = np.arange(64)
    assert nyquist_fraction(np.where(x % 2 == 0, 1.0, -1.0)) == pytest.approx(1.0)
    assert nyquist_fraction(np.sin(2 * np.pi * 3 * x / 64)) < 1e-20


def test_engine_detector_matches_the_numpy_one():
    rng = np.random.default_rng(2)
    fields = rng.normal(size=(2, 40, 40)) + np.stack([plane(2, 1)[:40, :40], plane(1, 3)[:40, :40]])
    line, total = nyquist_power(torch.from_numpy(fields).float())
    for i in range(2):
        assert float(line[i] / total[i]) == pytest.approx(nyquist_fraction(fields[i]), rel=1e-5)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="2D"):
        classify_pattern(np.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        classify_pattern(np.full((8, 8), np.nan))

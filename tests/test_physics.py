"""Physics observables on hand-made showers with exact answers, plus a Geant4 slice."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tfcalo import physics
from tfcalo.errors import UnknownNameError

LHCB_X = (np.arange(30) - 14.5) * 2.0  # column centres, cm


def lhcb_cond(n=1, x=0.0, y=0.0, px=1.0, py=1.0, pz=50.0):
    c = np.zeros((n, 6), np.float32)
    c[:] = [x, y, 0.0, px, py, pz]
    return c


def test_total_energy_and_sampling_fraction_unit_conversion():
    img = np.zeros((2, 30, 30), np.float32)
    img[0, 3, 4] = 1000.0  # 1000 MeV
    img[1, 10, 10] = 875.0
    img[1, 11, 10] = 875.0
    cond = lhcb_cond(2, px=0.0, py=6.0, pz=8.0)  # |p| = 10 GeV
    np.testing.assert_allclose(physics.total_energy(img), [1000.0, 1750.0])
    np.testing.assert_allclose(physics.sampling_fraction("lhcb-ecal", img, cond), [0.1, 0.175])
    vol = np.zeros((1, 25, 25, 25), np.float32)
    vol[0, 1, 2, 3] = 2.0  # GeV
    np.testing.assert_allclose(physics.sampling_fraction("cern-ecal", vol, [[100.0]]), [0.02])


def test_centroid_of_single_cell_and_zero_width():
    img = np.zeros((1, 30, 30))
    img[0, 7, 20] = 5.0  # row = y index 7, column = x index 20
    cog = physics.centre_of_gravity(img, "lhcb-ecal")
    np.testing.assert_allclose(cog, [[LHCB_X[20], LHCB_X[7]]])
    np.testing.assert_allclose(physics.widths(img, "lhcb-ecal"), [[0.0, 0.0]])


def test_width_of_uniform_block():
    img = np.zeros((1, 30, 30))
    img[0, 10:13, 5:9] = 1.0  # 3 rows (y) x 4 columns (x) of 2 cm
    w = physics.widths(img, "lhcb-ecal")[0]
    # discrete uniform over k cells of pitch 2: sigma = 2 * sqrt((k^2 - 1) / 12)
    np.testing.assert_allclose(w, [2 * np.sqrt(15 / 12), 2 * np.sqrt(8 / 12)])


def test_3d_moments_depth_and_longitudinal_profile():
    vol = np.zeros((1, 25, 25, 25))
    vol[0, 12, 12, 0] = 1.0
    vol[0, 12, 12, 17] = 1.0
    z = physics.cell_centres("cern-ecal")[2]
    np.testing.assert_allclose(z[0], 0.145)
    np.testing.assert_allclose(z[17], 17 * 0.29 + 0.265)
    cog = physics.centre_of_gravity(vol, "cern-ecal")[0]
    np.testing.assert_allclose(cog, [0.0, 0.0, (z[0] + z[17]) / 2])
    np.testing.assert_allclose(physics.widths(vol, "cern-ecal")[0], [0, 0, (z[17] - z[0]) / 2])
    prof = physics.longitudinal_profile(vol, "cern-ecal")
    assert prof.shape == (1, 25) and prof[0, 0] == 1 and prof[0, 17] == 1 and prof.sum() == 2
    with pytest.raises(ValueError, match="layers"):
        physics.longitudinal_profile(np.zeros((1, 30, 30)), "lhcb-ecal")


def test_3d_axes_are_x_y_layer():
    vol = np.zeros((1, 25, 25, 25))
    vol[0, 20, 3, 5] = 1.0
    cog = physics.centre_of_gravity(vol, "cern-ecal")[0]
    np.testing.assert_allclose(cog[:2], [(20 - 12) * 0.51, (3 - 12) * 0.51])
    np.testing.assert_allclose(physics.transverse_profile_x(vol, "cern-ecal")[0, 20], 1.0)
    np.testing.assert_allclose(physics.transverse_profile_y(vol, "cern-ecal")[0, 3], 1.0)


def test_radial_profile_rings():
    img = np.zeros((1, 30, 30))
    img[0, 15, 15] = 4.0  # centre cell
    img[0, 15, 17] = 1.0  # 2 pitches to the right
    img[0, 15, 13] = 1.0  # 2 pitches to the left -> COG stays at cell (15, 15)
    prof = physics.radial_profile(img, "lhcb-ecal", n_bins=4)
    np.testing.assert_allclose(prof, [[4.0, 0.0, 2.0, 0.0]])


def test_cells_above_and_sparsity():
    img = np.zeros((1, 30, 30))
    img[0, 0, :5] = [0.5, 2.0, 20.0, 200.0, 777.5]  # total 1000
    np.testing.assert_allclose(physics.n_cells_above(img, [1.0, 10.0, 100.0]), [[4, 3, 2]])
    np.testing.assert_allclose(physics.sparsity(img, [1e-3, 0.2, 1.0]), [[4 / 900, 2 / 900, 0.0]])
    np.testing.assert_allclose(physics.sparsity(np.zeros((1, 30, 30)), [0.1]), [[0.0]])


def _symmetric_about_line(px, py):
    """Image symmetric about the line through the reference point perpendicular to p_T."""
    xx, yy = np.meshgrid(np.arange(30) - 14.5, np.arange(30) - 14.5)
    # reference point at the grid centre: entry point chosen so x0 + 25 px/pz = 0
    pz = 100.0
    cond = lhcb_cond(1, x=-2.0 * 25 * px / pz, y=-2.0 * 25 * py / pz, px=px, py=py, pz=pz)
    return xx, yy, cond


def test_asymmetry_zero_for_symmetric_shower_and_sign_along_pt():
    # p_T = (3, 10): neither boundary line passes through a cell centre, so a centrally
    # symmetric image (point reflection through the reference point) gives exactly zero.
    xx, yy, cond = _symmetric_about_line(3.0, 10.0)
    blob = np.exp(-(xx**2 + yy**2) / 8.0)[None]
    assert abs(physics.asymmetry(blob, cond)[0]) < 1e-12
    assert abs(physics.asymmetry(blob, cond, orthogonal=True)[0]) < 1e-12
    u = np.array([3.0, 10.0]) / np.hypot(3.0, 10.0)  # unit vector along +p_T
    v = np.array([-u[1], u[0]])  # across p_T, pointing "above" the line along p_T

    def shifted(d):
        return np.exp(-((xx - d[0]) ** 2 + (yy - d[1]) ** 2) / 8.0)[None]

    assert physics.asymmetry(shifted(4 * u), cond)[0] > 0.9  # downstream: positive
    assert physics.asymmetry(shifted(-4 * u), cond)[0] < -0.9
    assert physics.asymmetry(shifted(4 * v), cond, orthogonal=True)[0] > 0.9
    assert physics.asymmetry(shifted(-4 * v), cond, orthogonal=True)[0] < -0.9
    # a shift along p_T does not move energy across the line along p_T: stays ~0
    assert abs(physics.asymmetry(shifted(4 * u), cond, orthogonal=True)[0]) < 0.05


def test_asymmetry_sign_follows_py_sign_and_rotation_invariance():
    xx, yy, cond = _symmetric_about_line(5.0, -8.0)
    img = np.exp(-((xx - 5 * 0.5) ** 2 + (yy + 8 * 0.5) ** 2) / 4.0)[None]  # downstream
    a = physics.asymmetry(img, cond)[0]
    assert a > 0.5
    # 180 degree rotation of the event leaves the longitudinal asymmetry unchanged
    rot_img = img[:, ::-1, ::-1]
    rot_cond = cond.copy()
    rot_cond[:, [0, 1, 3, 4]] *= -1
    np.testing.assert_allclose(physics.asymmetry(rot_img, rot_cond)[0], a, rtol=1e-12)


def test_shower_width_matches_lhcb_reference_formula():
    rng = np.random.default_rng(1)
    img = rng.gamma(1.0, 1.0, (3, 30, 30))
    cond = np.array([[0.3, -0.2, 0, 3.0, 4.0, 50.0], [-0.1, 0.4, 0, -5.0, 2.0, 60.0],
                     [0.0, 0.0, 0, 2.0, -7.0, 40.0]])
    for orth in (False, True):
        got = physics.shower_width(img, cond, orthogonal=orth)
        np.testing.assert_allclose(got, _reference_width(img, cond, orth) * 2.0, rtol=1e-10)


def _reference_width(data, ps_pts, orthog):
    """Straight loop transcription of get_shower_width (cell units) for one-by-one checking."""
    out = []
    x = np.linspace(-14.5, 14.5, 30)
    xx, yy = np.meshgrid(x, x)
    for img, c in zip(data, ps_pts, strict=True):
        px, py, pz = c[3], c[4], c[5]
        p0, p1 = c[0] / 2 + 25 * px / pz, c[1] / 2 + 25 * py / pz
        if orthog:
            line = -(xx - p0) / (px / py) + p1
            sign = 1.0
        else:
            line = (xx - p0) / (py / px) + p1
            sign = 1.0 if py < 0 else -1.0
        zz = np.where((yy - line) * sign < 0, 0.0, 1.0)
        edge = np.zeros((30, 30))
        edge[:, :-1] += np.abs(np.diff(zz, axis=1))
        edge[:-1, :] += np.abs(np.diff(zz, axis=0))
        ww = np.clip(edge, 0, 1) * img
        u = np.sqrt(1 + (py / px) ** 2) * xx
        m1 = (ww * u).sum() / ww.sum()
        out.append(np.sqrt((ww * u * u).sum() / ww.sum() - m1**2))
    return np.array(out)


def test_observables_names_order_and_rich():
    names = physics.observable_names("lhcb-ecal")
    assert names[:4] == ["total_energy", "sampling_fraction", "cog_x", "cog_y"]
    assert {"asymmetry_long", "asymmetry_trans", "width_long", "width_trans"} <= set(names)
    assert "cog_z" in physics.observable_names("cern-ecal")
    dll = np.arange(10, dtype=np.float32).reshape(2, 5)
    obs = physics.observables("rich-pid", dll, np.ones((2, 3)))
    assert list(obs) == ["RichDLLe", "RichDLLmu", "RichDLLk", "RichDLLp", "RichDLLbt"]
    np.testing.assert_array_equal(obs["RichDLLk"], [2, 7])


def test_observables_chunking_is_invisible(monkeypatch):
    rng = np.random.default_rng(0)
    img = rng.gamma(0.5, 10.0, (37, 30, 30)).astype(np.float32)
    cond = np.column_stack([rng.uniform(-1, 1, (37, 2)), np.zeros(37),
                            rng.uniform(-10, 10, (37, 2)), rng.uniform(20, 80, 37)])
    full = physics.observables("lhcb-ecal", img, cond)
    monkeypatch.setattr(physics, "CHUNK", 5)
    chunked = physics.observables("lhcb-ecal", img, cond)
    for k in full:
        np.testing.assert_allclose(chunked[k], full[k], rtol=1e-12, err_msg=k)
    # permutation equivariance
    perm = rng.permutation(37)
    permuted = physics.observables("lhcb-ecal", img[perm], cond[perm])
    for k in full:
        np.testing.assert_allclose(permuted[k], full[k][perm], rtol=1e-12, err_msg=k)


def test_empty_shower_gives_zeros_not_nan():
    obs = physics.observables("lhcb-ecal", np.zeros((2, 30, 30)), lhcb_cond(2))
    for k, v in obs.items():
        assert np.all(np.isfinite(v)), k


def test_regression_targets_and_unknown_name():
    img = np.zeros((1, 30, 30))
    img[0, 15, 15] = 3.0
    t = physics.regression_targets("lhcb-ecal", img, lhcb_cond(), ["total_energy", "cog_x"])
    np.testing.assert_allclose(t, [[3.0, 1.0]])
    with pytest.raises(UnknownNameError, match="asymmetry_long"):
        physics.regression_targets("lhcb-ecal", img, lhcb_cond(), ["asymmetry_lng"])


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="condition rows"):
        physics.observables("lhcb-ecal", np.zeros((2, 30, 30)), lhcb_cond(3))


def test_geant4_lhcb_slice_physics(shared_data):
    with h5py.File(shared_data / "g4_lhcb_ecal_train.h5", "r") as f:
        img = f["EnergyDeposit"][:400]
        cond = np.column_stack([f["ParticlePoint"][:400], f["ParticleMomentum"][:400]])
    obs = physics.observables("lhcb-ecal", img, cond)
    # shashlik sampling fraction ~0.175 (tf-stack notes); transverse asymmetry ~0 on average
    assert 0.15 < np.median(obs["sampling_fraction"]) < 0.20
    assert abs(np.mean(obs["asymmetry_trans"])) < 0.1
    # the centroid follows the inclination: cog_x correlates with px/pz
    assert np.corrcoef(obs["cog_x"], cond[:, 3] / cond[:, 5])[0, 1] > 0.9


# ---------------------------------------------------------------- moments in the p_T frame
def _blob(theta, components, centre=(1.0, -2.0)):
    """30x30 image of a sum of Gaussians given in the frame turned by ``theta``.

    ``components``: (weight, mean along, sigma along, sigma across) in cm; cells sampled at
    their centres (sigma >= 2 cm on a 2 cm grid: the sampled moments equal the continuous
    ones to ~1e-8).
    """
    xx, yy = np.meshgrid(LHCB_X, LHCB_X)  # [row = y, column = x]
    a = (xx - centre[0]) * np.cos(theta) + (yy - centre[1]) * np.sin(theta)
    b = -(xx - centre[0]) * np.sin(theta) + (yy - centre[1]) * np.cos(theta)
    img = np.zeros((30, 30))
    for wgt, mu, sa, sb in components:
        img += wgt * np.exp(-0.5 * ((a - mu) / sa) ** 2 - 0.5 * (b / sb) ** 2) / (sa * sb)
    return img


def _mixture_moments(components):
    """(sigma, skewness) along the axis of a 1D Gaussian mixture (weights, means, sigmas)."""
    w = np.array([c[0] for c in components], float)
    mu = np.array([c[1] for c in components], float)
    s = np.array([c[2] for c in components], float)
    w = w / w.sum()
    m1 = (w * mu).sum()
    d = mu - m1
    m2 = (w * (d**2 + s**2)).sum()
    m3 = (w * (d**3 + 3 * d * s**2)).sum()
    return np.sqrt(m2), m3 / m2**1.5


@pytest.mark.parametrize("theta", [0.0, 0.5, np.pi / 2, 2.0, -2.7])
def test_pt_frame_moments_of_a_rotated_elongated_gaussian(theta):
    # sigma 4 cm along p_T, 2 cm across, p_T turned by theta: the moments follow p_T
    img = _blob(theta, [(1.0, 0.0, 4.0, 2.0)])[None]
    cond = lhcb_cond(px=3.0 * np.cos(theta), py=3.0 * np.sin(theta), pz=40.0)
    m = physics.pt_frame_moments(img, cond)[0]
    np.testing.assert_allclose(m, [4.0, 2.0, 0.0, 0.0], atol=1e-6)
    obs = physics.observables("lhcb-ecal", img, cond)
    np.testing.assert_allclose([obs[k][0] for k in physics.PT_MOMENT_NAMES], m)


@pytest.mark.parametrize("theta", [0.3, -1.9])
def test_pt_frame_skewness_of_a_skewed_blob(theta):
    # a 1:3 mixture along p_T (tail downstream), symmetric across
    comps = [(3.0, 0.0, 2.0, 2.5), (1.0, 6.0, 3.0, 2.5)]
    sigma, skew = _mixture_moments(comps)
    assert skew > 0.3  # a real test of the third moment
    img = _blob(theta, comps)[None]
    cond = lhcb_cond(px=np.cos(theta), py=np.sin(theta))
    m = physics.pt_frame_moments(img, cond)[0]
    np.testing.assert_allclose(m, [sigma, 2.5, skew, 0.0], atol=1e-6)
    # p_T reversed: same widths, skewness along flips sign, across flips with the frame
    flipped = physics.pt_frame_moments(img, lhcb_cond(px=-np.cos(theta), py=-np.sin(theta)))[0]
    np.testing.assert_allclose(flipped, [sigma, 2.5, -skew, 0.0], atol=1e-6)
    # p_T turned by -90 degrees: the blob's axis is now the across axis (p_T turned by +90),
    # the tail on its positive side
    turned = physics.pt_frame_moments(img, lhcb_cond(px=np.sin(theta), py=-np.cos(theta)))[0]
    np.testing.assert_allclose(turned, [2.5, sigma, 0.0, skew], atol=1e-6)


def test_pt_frame_moments_at_zero_pt_use_the_x_axis_and_empty_showers_give_zero():
    img = np.zeros((3, 30, 30))
    img[0] = _blob(0.0, [(3.0, 0.0, 2.0, 3.0), (1.0, 6.0, 3.0, 3.0)])
    img[1, 4, 7] = 5.0  # one cell: zero widths, zero skewness
    cond = lhcb_cond(3, px=0.0, py=0.0)
    m = physics.pt_frame_moments(img, cond)
    assert np.all(np.isfinite(m))
    sigma, skew = _mixture_moments([(3.0, 0.0, 2.0), (1.0, 6.0, 3.0)])
    np.testing.assert_allclose(m[0], [sigma, 3.0, skew, 0.0], atol=1e-6)
    np.testing.assert_allclose(m[0, :2], physics.widths(img[:1], "lhcb-ecal")[0])
    np.testing.assert_array_equal(m[1:], 0.0)
    # continuity: a tiny px gives the same numbers (the LHCb width_long jumps there)
    near = physics.pt_frame_moments(img[:1], lhcb_cond(px=1e-9, py=0.0))
    np.testing.assert_allclose(near[0], m[0], atol=1e-6)


def test_max_cell_fraction_and_sparsity_at_1e_3():
    img = np.zeros((2, 30, 30))
    img[0, 0, :4] = [6.0, 2.0, 1.0, 1.0]
    img[0, 1, 0] = 0.005  # below 1e-3 of the 10.005 total
    obs = physics.observables("lhcb-ecal", img, lhcb_cond(2))
    np.testing.assert_allclose(obs["max_cell_fraction"], [6.0 / 10.005, 0.0])
    np.testing.assert_allclose(obs["sparsity_0.001"], [4 / 900, 0.0])
    assert physics.observable_axis("lhcb-ecal", "width_along_pt") == (
        "shower width along p_T (RMS)", "cm")


def test_observable_stats_are_robust_to_exploding_values():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, 20_000)
    x[:100] = 1e6  # a few exploding values (like width_long at px ~ 0)
    st = physics.observable_stats({"x": x, "flat": np.ones(50), "none": np.array([np.nan])})
    assert abs(st["x"]["median"] - 3.0) < 0.05
    assert abs(st["x"]["scale"] - 2.0) < 0.06
    assert st["flat"] == {"median": 1.0, "q25": 1.0, "q75": 1.0, "scale": 1.0, "n": 50}
    assert st["none"]["scale"] == 1.0 and st["none"]["n"] == 0

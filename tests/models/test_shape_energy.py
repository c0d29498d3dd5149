"""The energy-factorised SAGAN (generator.output = "shape_energy", critic energy_input).

The generator's deposit is primary energy x sf_ref x exp(delta) with a softmax shape, so the
sampling fraction is one number per shower; the critic sees log(deposit / (E sf_ref)).
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfcalo.errors import ConfigError  # noqa: E402
from tfcalo.physics import sampling_fraction  # noqa: E402
from tfcalo.training.build import build  # noqa: E402

STATS = {"observables": {"sampling_fraction": {"median": 0.175}}}
CFG = {"latent_dim": 4,
       "generator": {"filters": 4, "output": "shape_energy", "slope_features": True},
       "discriminator": {"filters": 4, "hidden": 8, "energy_input": True,
                         "slope_features": True, "aux_targets": []}}


def _conditions(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = np.exp(rng.uniform(np.log(2), np.log(100), n))
    tx, ty = rng.uniform(-0.3, 0.3, n), rng.uniform(-0.25, 0.25, n)
    pz = e / np.sqrt(1 + tx ** 2 + ty ** 2)
    return np.stack([rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n), np.zeros(n),
                     tx * pz, ty * pz, pz], axis=1).astype("float32")


def test_deposit_is_primary_energy_times_reference_times_exp_delta():
    gan = build("sagan", "lhcb-ecal", CFG, STATS)
    gen = gan.generator
    c = _conditions(64)
    z = np.random.default_rng(1).standard_normal((64, 4)).astype("float32")
    showers = gen([z, c]).numpy()
    assert showers.shape == (64, 30, 30) and showers.min() >= 0
    h = gen._inputs(tf.constant(z), tf.constant(c), gen.cond_norm(tf.constant(c)))
    delta = gen.energy_head(h, training=False).numpy()[:, 0]
    np.testing.assert_allclose(sampling_fraction("lhcb-ecal", showers, c),
                               0.175 * np.exp(delta), rtol=1e-4)
    # an untrained head starts at the data's sampling fraction (delta near 0)
    assert np.abs(delta).max() < 0.2


def test_sf_reference_comes_from_the_data_statistics_or_the_config():
    assert build("sagan", "lhcb-ecal", CFG, STATS).generator.sf_ref == pytest.approx(0.175)
    cfg = {**CFG, "generator": {**CFG["generator"], "sf_ref": 0.2}}
    gan = build("sagan", "lhcb-ecal", cfg, STATS)
    assert gan.generator.sf_ref == pytest.approx(0.2)
    assert gan.discriminator.sf_ref == pytest.approx(0.2)
    with pytest.raises(ConfigError, match="sampling fraction"):
        build("sagan", "lhcb-ecal", CFG, {})


def test_critic_reads_the_deposit_beside_the_image():
    """With the image held fixed, a 1 % larger deposit moves the energy input by
    30 * log(1.01) = 0.30 and changes the score; without energy_input nothing changes."""
    c = _conditions(16)
    for energy_input in (True, False):
        cfg = {**CFG, "discriminator": {**CFG["discriminator"], "energy_input": energy_input}}
        gan = build("sagan", "lhcb-ecal", cfg, STATS)
        showers = gan.generator([np.zeros((16, 4), "float32"), c]).numpy()
        t = gan.discriminator.transform(showers)
        scores = [gan.discriminator.score_transformed(t, c, showers=showers * k)["score"].numpy()
                  for k in (1.0, 1.01)]
        moved = np.abs(scores[1] - scores[0]).max()
        if energy_input:
            assert moved > 1e-4
        else:
            assert moved == 0.0


@pytest.mark.parametrize("key, value, fragment", [
    ("output", "energy", "generator.output"),
])
def test_bad_generator_output_is_a_config_error(key, value, fragment):
    cfg = {**CFG, "generator": {**CFG["generator"], key: value}}
    with pytest.raises(ConfigError, match=fragment):
        build("sagan", "lhcb-ecal", cfg, STATS)


CERN_STATS = {"observables": {"sampling_fraction": {"median": 0.025}}}
CERN_CFG = {"latent_dim": 4, "generator": {"filters": 2, "output": "shape_energy"},
            "discriminator": {"filters": 2, "hidden": 4, "energy_input": True}}


def test_2dgan_deposit_is_ep_times_reference_times_exp_delta():
    gan = build("2dgan", "cern-ecal", CERN_CFG, CERN_STATS)
    ep = np.array([[2.0], [50.0], [500.0]], "float32")
    z = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    showers = gan.generator([z, ep]).numpy()
    assert showers.shape == (3, 25, 25, 25) and showers.min() >= 0
    gen = gan.generator
    delta = gen.energy_head(tf.concat([z, gen.cond_norm(ep)], -1)).numpy()[:, 0]
    np.testing.assert_allclose(sampling_fraction("cern-ecal", showers, ep),
                               0.025 * np.exp(delta), rtol=1e-4)
    t = gan.discriminator.transform(showers)
    moved = [gan.discriminator.score_transformed(t, ep, showers=showers * k)["score"].numpy()
             for k in (1.0, 1.01)]
    assert np.abs(moved[1] - moved[0]).max() > 1e-5


EC_CFG = {**CFG, "objective": {"name": "hinge"},
          "discriminator": {**CFG["discriminator"], "energy_critic": True}}


def test_energy_critic_judges_the_deposit_alone_with_its_own_hinge():
    """score_energy moves with the deposit and not with the image; the hinge objective
    gives it its own term relu(1 - e_real) + relu(1 + e_fake), and the generator -e_fake."""
    from tfcalo.training.objectives import make_objective

    gan = build("sagan", "lhcb-ecal", EC_CFG, STATS)
    critic, c = gan.discriminator, _conditions(16)
    showers = gan.generator([np.random.default_rng(2).standard_normal((16, 4)).astype("float32"),
                             c]).numpy()
    t = critic.transform(showers)
    base = critic.score_transformed(t, c, showers=showers)
    assert base["score"].shape == (16, 1) and base["score_energy"].shape == (16, 1)
    other_image = critic.score_transformed(t[::-1], c, showers=showers)
    np.testing.assert_array_equal(other_image["score_energy"], base["score_energy"])
    more = critic.score_transformed(t, c, showers=showers * 1.05)
    assert np.abs(more["score_energy"] - base["score_energy"]).max() > 1e-4

    hinge = make_objective("hinge")
    out_r = {"score": tf.zeros((16, 1)), "score_energy": base["score_energy"]}
    out_f = {"score": tf.zeros((16, 1)), "score_energy": more["score_energy"]}
    terms = hinge.critic_terms(critic, out_r, out_f, None, None, c, None, None, False)
    e_r, e_f = base["score_energy"].numpy()[:, 0], more["score_energy"].numpy()[:, 0]
    np.testing.assert_allclose(terms["energy"], np.maximum(1 - e_r, 0) + np.maximum(1 + e_f, 0),
                               rtol=1e-6)
    g_terms = hinge.generator_terms(critic, out_f, None, None, c, None, False)
    np.testing.assert_allclose(g_terms["energy"], -e_f, rtol=1e-6)
    assert set(hinge.critic_terms(critic, {"score": out_r["score"]}, {"score": out_f["score"]},
                                  None, None, c, None, None, False)) == {"adv"}


@pytest.mark.parametrize("change, fragment", [
    ({"discriminator": {**EC_CFG["discriminator"], "energy_input": False}}, "energy_input"),
    ({"objective": {"name": "wgan-gp"}}, "hinge or bce"),
])
def test_energy_critic_needs_energy_input_and_hinge(change, fragment):
    with pytest.raises(ConfigError, match=fragment):
        build("sagan", "lhcb-ecal", {**EC_CFG, **change}, STATS)


def test_2dgan_energy_critic_has_its_own_cross_entropy():
    from tfcalo.training.objectives import make_objective

    cfg = {**CERN_CFG, "discriminator": {**CERN_CFG["discriminator"], "energy_critic": True}}
    gan = build("2dgan", "cern-ecal", cfg, CERN_STATS)
    ep = np.array([[2.0], [50.0], [500.0]], "float32")
    showers = gan.generator([np.zeros((3, 4), "float32"), ep]).numpy()
    critic = gan.discriminator
    t = critic.transform(showers)
    a = critic.score_transformed(t, ep, showers=showers)
    b = critic.score_transformed(t, ep, showers=showers * 1.05)
    assert a["score_energy"].shape == (3, 1)
    assert np.abs(a["score_energy"] - b["score_energy"]).max() > 1e-5
    bce = make_objective("bce")
    terms = bce.critic_terms(critic, a, b, None, None, ep, None, None, False)
    e_r, e_f = a["score_energy"].numpy()[:, 0], b["score_energy"].numpy()[:, 0]
    np.testing.assert_allclose(terms["energy"], np.log1p(np.exp(-e_r)) + np.log1p(np.exp(e_f)),
                               rtol=1e-5)
    g_terms = bce.generator_terms(critic, b, None, None, ep, None, False)
    np.testing.assert_allclose(g_terms["energy"], np.log1p(np.exp(-e_f)), rtol=1e-5)


def test_location_scale_head_spread_follows_the_conditions():
    """delta = mu(h) + exp(s(c)) z_0: at initialisation a 1 % spread driven by z_0; the scale
    is a function of the conditions alone (changing the other noise components or z_0 does
    not move it), and a trained scale that grows with s gives a proportionally wider spread."""
    from tfcalo.models.layers import LocationScaleHead

    cfg = {**CFG, "generator": {**CFG["generator"], "energy_head": "location_scale"}}
    gen = build("sagan", "lhcb-ecal", cfg, STATS).generator
    head = gen.energy_head
    assert isinstance(head, LocationScaleHead)
    c = np.repeat(_conditions(1), 4000, axis=0)
    z = np.random.default_rng(3).standard_normal((4000, 4)).astype("float32")
    h = gen._inputs(tf.constant(z), tf.constant(c), gen.cond_norm(tf.constant(c)))
    delta = head(h).numpy()[:, 0]
    assert 0.007 < delta.std() < 0.013
    assert abs(np.corrcoef(delta, z[:, 0])[0, 1]) > 0.9
    showers = gen([z[:64], c[:64]]).numpy()
    np.testing.assert_allclose(sampling_fraction("lhcb-ecal", showers, c[:64]),
                               0.175 * np.exp(delta[:64]), rtol=1e-4)
    # scale x 3 (bias + log 3): the spread triples
    last = head.log_scale.layers[-1]
    last.bias.assign(last.bias + np.log(3.0))
    assert head(h).numpy()[:, 0].std() == pytest.approx(3 * delta.std(), rel=0.05)


def test_unknown_energy_head_is_a_config_error():
    cfg = {**CFG, "generator": {**CFG["generator"], "energy_head": "gauss"}}
    with pytest.raises(ConfigError, match="generator.energy_head"):
        build("sagan", "lhcb-ecal", cfg, STATS)


def test_2dgan_shape_only_critic_leaves_the_deposit_to_the_energy_critic():
    """With shape_only the image score ignores a rescaling of the shower (x2) and the
    energy score does not; the gradient of the image score w.r.t. the generator's delta is 0."""
    cfg = {**CERN_CFG, "discriminator": {**CERN_CFG["discriminator"], "energy_critic": True,
                                         "shape_only": True}}
    gan = build("2dgan", "cern-ecal", cfg, CERN_STATS)
    critic = gan.discriminator
    ep = np.array([[2.0], [50.0], [500.0]], "float32")
    showers = gan.generator([np.ones((3, 4), "float32"), ep]).numpy()
    a = critic([showers, ep])
    b = critic([showers * 2.0, ep])
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-5, atol=1e-8)
    assert np.abs(a["score_energy"] - b["score_energy"]).max() > 1e-5
    gen = gan.generator
    with tf.GradientTape() as tape:
        out = critic([gen([np.ones((3, 4), "float32"), ep]), ep])
        image = tf.reduce_sum(out["score"])
    grads = tape.gradient(image, gen.energy_head.trainable_variables)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in grads if g is not None) < 1e-4
    with pytest.raises(ConfigError, match="shape_only"):
        build("2dgan", "cern-ecal", {**CERN_CFG, "discriminator": {
            **CERN_CFG["discriminator"], "shape_only": True}}, CERN_STATS)


def test_reference_sf_curve_interpolates_in_log_energy_and_clamps():
    from tfcalo.detectors import get_detector
    from tfcalo.models.layers import reference_sf

    det = get_detector("cern-ecal")
    curve = [[np.log(2.0), np.log(20.0), np.log(200.0)], [0.027, 0.024, 0.022]]
    ep = tf.constant([[1.0], [2.0], [np.sqrt(40.0)], [20.0], [200.0], [500.0]], tf.float32)
    got = reference_sf(det, ep, 0.025, curve).numpy()
    np.testing.assert_allclose(got, [0.027, 0.027, 0.0255, 0.024, 0.022, 0.022], rtol=1e-5)
    assert reference_sf(det, ep, 0.025, None) == 0.025


def test_curve_reference_follows_the_data_and_needs_the_statistic():
    """sf_reference = "curve": an untrained generator's sampling fraction starts on the
    data's curve at every energy, not at one median, and its spread at the data's spread
    (20 % at 2 GeV, 2 % at 500 GeV)."""
    stats = {**CERN_STATS, "sampling_fraction_curve": {
        "log_energy_gev": [np.log(2.0), np.log(500.0)], "sf_mean": [0.03, 0.02],
        "log_sf_spread": [0.2, 0.02]}}
    cfg = {**CERN_CFG, "generator": {**CERN_CFG["generator"], "sf_reference": "curve",
                                     "energy_head": "location_scale"}}
    gan = build("2dgan", "cern-ecal", cfg, stats)
    ep = np.array([[2.0], [500.0]], "float32")
    z = np.random.default_rng(0).standard_normal((2, 4)).astype("float32")
    ep = np.repeat(np.array([[2.0], [500.0]], "float32"), 2000, axis=0)
    z = np.random.default_rng(0).standard_normal((4000, 4)).astype("float32")
    sf = sampling_fraction("cern-ecal", gan.generator.physical(z, ep).numpy(), ep)
    log_sf = np.log(sf).reshape(2, 2000)
    np.testing.assert_allclose(np.exp(log_sf.mean(axis=1)), [0.03, 0.02], rtol=0.02)
    np.testing.assert_allclose(log_sf.std(axis=1), [0.2, 0.02], rtol=0.1)
    assert gan.discriminator.sf_curve == gan.generator.sf_curve
    with pytest.raises(ConfigError, match="sampling_fraction_curve"):
        build("2dgan", "cern-ecal", cfg, CERN_STATS)
    with pytest.raises(ConfigError, match="sf_reference"):
        build("2dgan", "cern-ecal", {**cfg, "generator": {**cfg["generator"],
                                                          "sf_reference": "fit"}}, stats)


def test_profile_prior_starts_the_softmax_at_the_product_of_the_profiles():
    """With zero network logits the shape is exactly the outer product of the (normalised)
    profiles; empty slices get at most 1e-6 of the shower."""
    from tfcalo.models.layers import profile_log_prior

    px = np.array([0.0, 1.0, 6.0, 2.0, 1.0])
    py = np.array([1.0, 2.0, 1.0, 0.0, 0.0])
    prior = profile_log_prior([px.tolist(), py.tolist()], (5, 5))
    shape = tf.nn.softmax(tf.reshape(prior, (-1,))).numpy().reshape(5, 5)
    np.testing.assert_allclose(shape.sum(axis=1), px / px.sum(), atol=3e-6)
    np.testing.assert_allclose(shape.sum(axis=0), py / py.sum(), atol=3e-6)
    np.testing.assert_allclose(shape, np.outer(px / px.sum(), py / py.sum()), atol=3e-6)
    assert profile_log_prior(None, (5, 5)) is None
    with pytest.raises(ValueError, match="lengths"):
        profile_log_prior([px.tolist()], (5, 5))


def test_2dgan_shape_prior_gives_an_untrained_generator_the_data_widths():
    """shape_prior = "profiles": an untrained generator's mean transverse profile is the
    data's (a narrow core, rms 1.2 cells) instead of a near-uniform volume (rms ~7 cells)."""
    core = np.exp(-0.5 * ((np.arange(25) - 12) / 1.2) ** 2)
    depth = np.exp(-0.5 * ((np.arange(25) - 10) / 4.0) ** 2)
    stats = {**CERN_STATS, "mean_profiles": [core.tolist(), core.tolist(), depth.tolist()]}
    ep = np.full((64, 1), 100.0, "float32")
    z = np.random.default_rng(0).standard_normal((64, 4)).astype("float32")

    def x_rms(generator_cfg, stats):
        gan = build("2dgan", "cern-ecal", {**CERN_CFG, "generator": {
            **CERN_CFG["generator"], **generator_cfg}}, stats)
        p = gan.generator.physical(z, ep).numpy().sum(axis=(0, 2, 3))
        p /= p.sum()
        return np.sqrt((p * (np.arange(25) - (p * np.arange(25)).sum()) ** 2).sum())

    assert x_rms({"shape_prior": "profiles"}, stats) == pytest.approx(1.2, rel=0.15)
    assert x_rms({}, stats) > 4.0
    with pytest.raises(ConfigError, match="mean_profiles"):
        build("2dgan", "cern-ecal", {**CERN_CFG, "generator": {
            **CERN_CFG["generator"], "shape_prior": "profiles"}}, CERN_STATS)
    with pytest.raises(ConfigError, match="shape_prior"):
        build("2dgan", "cern-ecal", {**CERN_CFG, "generator": {
            **CERN_CFG["generator"], "shape_prior": "mean"}}, stats)


def test_smooth_layer_model_keeps_the_longitudinal_profile_out_of_the_networks_reach():
    """layer_model = "smooth": the fraction of each shower in each layer is the prior's layer
    profile times exp(a Legendre polynomial of the depth), whatever the three branches make:
    with their fuse weights blown up 10,000x (a network gone wild after training) the layers'
    fractions do not move while the transverse shape does; with "free" both move."""
    from tfcalo.models.layers import layered_logits

    cells = tf.random.stateless_normal((2, 4, 3, 5), seed=(1, 2)) * 10.0
    layers = tf.constant([[0.0, 1.0, 2.0, 1.0, -3.0], [1.0, 0.0, 0.0, 0.0, 0.0]])
    p = tf.exp(layered_logits(cells, layers)).numpy()
    np.testing.assert_allclose(p.sum(axis=(1, 2)), tf.nn.softmax(layers).numpy(), rtol=1e-5)

    core = np.exp(-0.5 * ((np.arange(25) - 12) / 1.2) ** 2)
    depth = np.exp(-0.5 * ((np.arange(25) - 10) / 4.0) ** 2)
    stats = {**CERN_STATS, "mean_profiles": [core.tolist(), core.tolist(), depth.tolist()]}
    ep = np.full((16, 1), 100.0, "float32")
    z = np.random.default_rng(0).standard_normal((16, 4)).astype("float32")

    def layer_and_x_fractions(layer_model):
        gen = build("2dgan", "cern-ecal", {**CERN_CFG, "generator": {
            **CERN_CFG["generator"], "shape_prior": "profiles", "layer_model": layer_model}},
            stats).generator
        before = gen.physical(z, ep).numpy()
        gen.fuse.set_weights([w * 1e4 + 0.3 for w in gen.fuse.get_weights()])
        after = gen.physical(z, ep).numpy()
        return [(s.sum(axis=(1, 2)) / s.sum(axis=(1, 2, 3))[:, None],
                 s.sum(axis=(2, 3)) / s.sum(axis=(1, 2, 3))[:, None]) for s in (before, after)]

    (layers0, x0), (layers1, x1) = layer_and_x_fractions("smooth")
    np.testing.assert_allclose(layers1, layers0, atol=1e-6)
    np.testing.assert_allclose(layers0.mean(axis=0), depth / depth.sum(), atol=2e-3)
    assert np.abs(x1 - x0).max() > 0.01
    (layers0, _), (layers1, _) = layer_and_x_fractions("free")
    assert np.abs(layers1 - layers0).max() > 0.01
    for bad in ({"layer_model": "gamma"}, {"layer_model": "smooth", "output": "cells"}):
        with pytest.raises(ConfigError, match="layer_model"):
            build("2dgan", "cern-ecal", {**CERN_CFG, "generator": {
                **CERN_CFG["generator"], **bad}}, stats)


@pytest.mark.parametrize("layer_model", ["free", "smooth"])
def test_energy_profiles_prior_starts_each_energy_at_its_own_depth(layer_model):
    """shape_prior = "energy_profiles": an untrained generator's layer profile is the data's
    at each shower's energy (interpolated in log E between the curve's points, constant
    beyond), not the energy-averaged one; the transverse prior is unchanged."""
    core = np.exp(-0.5 * ((np.arange(25) - 12) / 1.2) ** 2)
    shallow = np.exp(-0.5 * ((np.arange(25) - 6) / 3.0) ** 2)
    deep = np.exp(-0.5 * ((np.arange(25) - 14) / 4.0) ** 2)
    curve = {"log_energy_gev": [np.log(5.0), np.log(200.0)],
             "profiles": [shallow.tolist(), deep.tolist()]}
    stats = {**CERN_STATS, "mean_profiles": [core.tolist(), core.tolist(), deep.tolist()],
             "layer_profile_curve": curve}
    gen = build("2dgan", "cern-ecal", {**CERN_CFG, "generator": {
        **CERN_CFG["generator"], "shape_prior": "energy_profiles",
        "layer_model": layer_model}}, stats).generator
    z = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")

    def layer_fractions(energy):
        s = gen.physical(z, np.full((8, 1), energy, "float32")).numpy()
        return (s.sum(axis=(1, 2)) / s.sum(axis=(1, 2, 3))[:, None]).mean(axis=0)

    for energy, expected in ((2.0, shallow), (5.0, shallow), (200.0, deep), (500.0, deep)):
        np.testing.assert_allclose(layer_fractions(energy), expected / expected.sum(),
                                   atol=3e-3)
    halfway = np.exp(0.5 * (np.log(np.maximum(shallow / shallow.sum(), 1e-6))
                            + np.log(np.maximum(deep / deep.sum(), 1e-6))))
    np.testing.assert_allclose(layer_fractions(np.sqrt(5.0 * 200.0)), halfway / halfway.sum(),
                               atol=3e-3)
    s = gen.physical(z, np.full((8, 1), 50.0, "float32")).numpy()
    x = s.sum(axis=(2, 3)) / s.sum(axis=(1, 2, 3))[:, None]
    np.testing.assert_allclose(x.mean(axis=0), core / core.sum(), atol=3e-3)
    with pytest.raises(ConfigError, match="layer_profile_curve"):
        build("2dgan", "cern-ecal", {**CERN_CFG, "generator": {
            **CERN_CFG["generator"], "shape_prior": "energy_profiles"}},
            {**stats, "layer_profile_curve": None})


def test_profile_features_are_the_normalised_profiles_in_log_space():
    """One cell holding everything: its x, y and layer slices read ~1, every other slice
    (log(1e-4) + 4) / 4 ~ -1.3; the features do not change with the shower's energy; a 2DGAN
    critic with profile_features reads them (its score moves when two layers swap)."""
    from tfcalo.models.layers import profile_features

    s = np.zeros((2, 25, 25, 25), "float32")
    s[0, 3, 4, 5] = 2.0
    s[1] = np.random.default_rng(0).random((25, 25, 25))
    f = profile_features(tf.constant(s)).numpy()
    assert f.shape == (2, 75)
    empty = (np.log(1e-4) + 4) / 4
    expect = np.full(75, empty)
    expect[[3, 25 + 4, 50 + 5]] = (np.log(1 + 1e-4) + 4) / 4
    np.testing.assert_allclose(f[0], expect, atol=1e-5)
    np.testing.assert_allclose(profile_features(tf.constant(s * 7.0)).numpy(), f, atol=1e-5)
    cfg = {**CERN_CFG, "discriminator": {**CERN_CFG["discriminator"], "profile_features": True}}
    critic = build("2dgan", "cern-ecal", cfg, CERN_STATS).discriminator
    assert critic.get_config()["profile_features"] is True
    ep = np.array([[50.0]], "float32")
    one = s[1:] * 0.05
    swapped = one[..., [1, 0, *range(2, 25)]] * np.linspace(1, 3, 25)[None, None, None, :]
    a, b = critic([one, ep])["score"], critic([swapped, ep])["score"]
    assert abs(float(a[0, 0]) - float(b[0, 0])) > 1e-6


def test_2dgan_profile_critic_judges_the_profiles_with_its_own_loss():
    """score_profile moves when the layer profile changes and not when the shower is scaled;
    its BCE terms carry the image critic's adv_weight (both train the shape) unless
    objective.profile_weight gives their own; it needs a hinge or bce objective."""
    from tfcalo.training.objectives import make_objective

    cfg = {**CERN_CFG, "discriminator": {**CERN_CFG["discriminator"], "profile_critic": True}}
    gan = build("2dgan", "cern-ecal", cfg, CERN_STATS)
    critic = gan.discriminator
    ep = np.array([[2.0], [50.0], [500.0]], "float32")
    showers = np.random.default_rng(0).random((3, 25, 25, 25)).astype("float32")
    showers *= np.linspace(0.2, 1.0, 25)  # a longitudinal profile rising with depth
    deeper = showers[..., ::-1].copy()  # the same shower front to back
    a, b = critic([showers, ep]), critic([deeper, ep])
    np.testing.assert_allclose(a["score_profile"], critic([showers * 2, ep])["score_profile"],
                               rtol=1e-4, atol=1e-6)
    assert np.abs(a["score_profile"] - b["score_profile"]).max() > 1e-5
    bce = make_objective("bce", adv_weight=3.0)
    p_r, p_f = a["score_profile"].numpy()[:, 0], b["score_profile"].numpy()[:, 0]
    terms = bce.critic_terms(critic, a, b, None, None, ep, None, None, False)
    np.testing.assert_allclose(terms["profile"],
                               3.0 * (np.log1p(np.exp(-p_r)) + np.log1p(np.exp(p_f))), rtol=1e-5)
    g_terms = bce.generator_terms(critic, b, None, None, ep, None, False)
    np.testing.assert_allclose(g_terms["profile"], 3.0 * np.log1p(np.exp(-p_f)), rtol=1e-5)
    heavy = make_objective("bce", adv_weight=3.0, profile_weight=12.0)  # its own weight
    np.testing.assert_allclose(heavy.critic_terms(critic, a, b, None, None, ep, None, None,
                                                  False)["profile"], 4.0 * terms["profile"],
                               rtol=1e-5)
    np.testing.assert_allclose(heavy.generator_terms(critic, b, None, None, ep, None, False)[
        "profile"], 4.0 * g_terms["profile"], rtol=1e-5)
    with pytest.raises(ConfigError, match="profile_critic"):
        build("2dgan", "cern-ecal", {**cfg, "objective": {"name": "wgan-gp"}}, CERN_STATS)

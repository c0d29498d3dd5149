"""The canonical dataset artifact: writing, stats, split, tf.data input, weights artifact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfcalo.data.artifact import StatsAccumulator, parse_split, split_assignment, write_artifact
from tfcalo.data.dataset import Dataset, read_weights, write_weights
from tfcalo.detectors import get_detector
from tfcalo.errors import ArtifactError, ConfigError

N = 200


def chunks_of(showers, conditions, weights, size):
    for i in range(0, len(showers), size):
        yield showers[i:i + size], conditions[i:i + size], weights[i:i + size]


@pytest.fixture(scope="module")
def cern(tmp_path_factory):
    """A small cern-ecal artifact whose total energy is exactly 0.02 * Ep + 0.5."""
    rng = np.random.default_rng(1)
    ep = rng.uniform(2, 500, N).astype(np.float32)
    showers = rng.random((N, 25, 25, 25)).astype(np.float32)
    showers *= ((0.02 * ep + 0.5) / showers.sum(axis=(1, 2, 3)))[:, None, None, None]
    weights = rng.normal(1, 0.5, N).astype(np.float32)
    out = tmp_path_factory.mktemp("cern")
    # small shards to exercise interleave over several files
    write_artifact(out, chunks_of(showers, ep[:, None], weights, 37), get_detector("cern-ecal"),
                   seed=3, provenance={"source_sha256": "abc"}, shard_bytes=20 * 62_532)
    return out, showers, ep[:, None], weights


def test_split_assignment_seeded_and_chunk_independent():
    idx = np.arange(100_000)
    a = split_assignment(idx, 7, (0.8, 0.1, 0.1))
    b = np.concatenate([split_assignment(idx[i:i + 333], 7, (0.8, 0.1, 0.1))
                        for i in range(0, len(idx), 333)])
    np.testing.assert_array_equal(a, b)
    frac = np.bincount(a, minlength=3) / len(idx)
    np.testing.assert_allclose(frac, [0.8, 0.1, 0.1], atol=0.005)
    assert (split_assignment(idx, 8, (0.8, 0.1, 0.1)) != a).mean() > 0.2
    assert (split_assignment(idx, 7, (1, 0, 0)) == 0).all()


@pytest.mark.parametrize("bad", ["0.8,0.1", "0.5,0.5,0.5", "a,b,c", "-0.1,0.6,0.5"])
def test_parse_split_rejects(bad):
    with pytest.raises(ConfigError, match="split"):
        parse_split(bad)


def test_schema_counts_and_stats(cern):
    out, showers, cond, weights = cern
    ds = Dataset.open(out)
    assert ds.detector.name == "cern-ecal"
    counts = [ds.count(s) for s in ("train", "val", "test")]
    assert sum(counts) == N and ds.schema["total"] == N
    assert len(ds.schema["shards"]["train"]) > 1
    which = split_assignment(np.arange(N), 3, (0.8, 0.1, 0.1))
    assert counts == np.bincount(which, minlength=3).tolist()
    train = which == 0
    st = ds.stats
    assert st["computed_on"] == "train" and st["count"] == counts[0]
    assert st["sf_slope"] == pytest.approx(0.02, rel=1e-4)
    assert st["sf_intercept"] == pytest.approx(0.5, rel=1e-3)
    ep = cond[train, 0].astype(np.float64)
    assert st["conditions"]["Ep"]["mean"] == pytest.approx(ep.mean(), rel=1e-6)
    assert st["conditions"]["Ep"]["std"] == pytest.approx(ep.std(), rel=1e-5)
    assert st["conditions"]["Ep"]["min"] == pytest.approx(ep.min())
    assert st["conditions"]["Ep"]["max"] == pytest.approx(ep.max())
    tot = showers[train].sum(axis=(1, 2, 3), dtype=np.float64)
    assert st["total_energy"]["mean"] == pytest.approx(tot.mean(), rel=1e-5)
    assert st["max_cell"] == pytest.approx(float(showers[train].max()))
    assert st["weights"]["sum"] == pytest.approx(float(weights[train].sum()), rel=1e-5)
    assert len(ds.content_hash) == 64
    # robust observable statistics of the training split (all of it: N < OBSERVABLE_SAMPLE)
    from tfcalo import physics

    expected = physics.observable_stats(physics.observables("cern-ecal", showers[train],
                                                            cond[train]))
    assert set(st["observables"]) == set(expected)
    for name, e in expected.items():
        for key in ("median", "scale"):
            assert st["observables"][name][key] == pytest.approx(e[key], rel=1e-9, abs=1e-12)
        assert st["observables"][name]["n"] == counts[0]


def test_load_round_trip(cern):
    out, showers, cond, weights = cern
    ds = Dataset.open(out)
    for split in ("train", "val", "test"):
        d = ds.load(split)
        assert len(d["index"]) == ds.count(split)
        np.testing.assert_array_equal(d["showers"], showers[d["index"]])
        np.testing.assert_array_equal(d["conditions"], cond[d["index"]])
        np.testing.assert_array_equal(d["weights"], weights[d["index"]])
    assert len(ds.load("train", limit=5)["index"]) == 5


def test_tf_dataset_batches_shuffle_seeded(cern):
    out, showers, cond, _ = cern
    ds = Dataset.open(out)
    batches = list(ds.tf_dataset("train", 16, seed=5).as_numpy_iterator())
    assert batches[0][0].shape == (16, 25, 25, 25) and batches[0][1].shape == (16, 1)
    assert sum(len(b[0]) for b in batches) == ds.count("train")
    ep = np.concatenate([b[1][:, 0] for b in batches])
    np.testing.assert_array_equal(np.sort(ep), np.sort(ds.load("train")["conditions"][:, 0]))
    again = np.concatenate([b[1][:, 0] for b in ds.tf_dataset("train", 16, seed=5)
                            .as_numpy_iterator()])
    np.testing.assert_array_equal(ep, again)  # same seed, same order
    in_order = ds.load("train")["conditions"][:, 0]
    assert not np.array_equal(ep, in_order)
    # showers stay paired with their conditions
    s, c = batches[0][0], batches[0][1]
    np.testing.assert_allclose(s.sum(axis=(1, 2, 3)), 0.02 * c[:, 0] + 0.5, rtol=1e-4)
    drop = list(ds.tf_dataset("train", 16, seed=5, drop_remainder=True).as_numpy_iterator())
    assert len(drop) == ds.count("train") // 16


def test_tf_dataset_explicit_input_context_shards(cern):
    import tensorflow as tf

    out, *_ = cern
    ds = Dataset.open(out)
    seen = []
    for worker in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker,
                                         num_replicas_in_sync=2)
        b = list(ds._batched("val", 4, input_context=ctx).as_numpy_iterator())
        assert all(len(x[0]) <= 2 for x in b)  # per-replica batch
        seen.append(np.concatenate([x[3] for x in b]))
    assert not set(seen[0]) & set(seen[1])
    assert sorted(np.concatenate(seen)) == sorted(ds.load("val")["index"])


def test_weights_artifact_replaces_by_index(cern, tmp_path):
    out, *_ = cern
    ds = Dataset.open(out)
    index = np.arange(N)[::-1].copy()
    new = (index * 0.5 - 3).astype(np.float32)
    write_weights(tmp_path, index, new, {"kind": "test"})
    i2, w2 = read_weights(tmp_path)
    np.testing.assert_array_equal(i2, index)
    np.testing.assert_array_equal(w2, new)
    assert json.loads((tmp_path / "meta.json").read_text()) == {"kind": "test"}
    d = ds.load("train", weights=tmp_path)
    np.testing.assert_array_equal(d["weights"], d["index"] * 0.5 - 3)
    for _, _, w in ds.tf_dataset("test", 8, weights=tmp_path, seed=1).take(1):
        assert np.all(np.isin(w.numpy(), new))


def test_weights_artifact_errors(cern, tmp_path):
    out, *_ = cern
    ds = Dataset.open(out)
    with pytest.raises(ArtifactError, match="not a weights artifact"):
        read_weights(tmp_path)
    write_weights(tmp_path, np.array([0, N + 5]), np.ones(2))
    with pytest.raises(ArtifactError, match="outside"):
        ds.load("train", weights=tmp_path)


def test_open_rejects_non_artifact(tmp_path):
    with pytest.raises(ArtifactError, match="not a tfcalo dataset"):
        Dataset.open(tmp_path)
    with pytest.raises(ArtifactError, match="does not exist"):
        Dataset.open(tmp_path / "none")


def test_tabular_stats_per_component():
    det = get_detector("rich-pid")
    acc = StatsAccumulator(det)
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    acc.add(x, np.tile([10.0, 3.0, 5000.0], (4, 1)).astype(np.float32), np.ones(4, np.float32))
    r = acc.result()
    assert r["showers"]["RichDLLe"]["mean"] == pytest.approx(7.5)
    assert r["out_of_range"] == {"p": 0, "eta": 0, "nTracks": 4}
    assert "sf_slope" not in r


def test_observable_sample_is_uniform_bounded_and_chunk_independent(monkeypatch):
    from tfcalo import physics
    from tfcalo.data import artifact

    monkeypatch.setattr(artifact, "OBSERVABLE_SAMPLE", 60)
    det = get_detector("lhcb-ecal")
    rng = np.random.default_rng(4)
    n = 300
    # the source is sorted by energy (like per-energy files): the first rows are not a sample
    scale = np.sort(rng.uniform(1, 100, n))
    showers = (rng.random((n, 30, 30)) * scale[:, None, None]).astype(np.float32)
    cond = np.tile(np.array([0, 0, 0, 1, 1, 50], np.float32), (n, 1))
    weights = np.ones(n, np.float32)
    results = []
    for size in (7, 300, 64):
        acc = artifact.StatsAccumulator(det, observables=True)
        for i in range(0, n, size):
            sl = slice(i, i + size)
            acc.add(showers[sl], cond[sl], weights[sl], np.arange(n)[sl] + 1000)
        results.append(acc.result()["observables"])
    assert results[0] == results[1] == results[2]
    # the sample is the 60 examples of smallest hash priority, not the first 60
    pick = np.argsort(artifact.hash_uniform(np.arange(n) + 1000, artifact.OBSERVABLE_SEED))[:60]
    expected = physics.observable_stats({"total_energy": showers[pick].sum(axis=(1, 2),
                                                                           dtype=np.float64)})
    assert results[0]["total_energy"] == pytest.approx(expected["total_energy"], rel=1e-9)
    assert results[0]["total_energy"]["n"] == 60
    # default: no observable statistics (tfcalo data inspect stays cheap)
    acc = artifact.StatsAccumulator(det)
    acc.add(showers, cond, weights)
    assert "observables" not in acc.result()


def test_stats_record_the_sampling_fraction_per_energy_bin():
    """total = 0.02 Ep + 0.5: the curve's means are 0.02 + 0.5 / E at each bin's median E
    (to the curvature within a bin) and the spread of log SF is what the bin's width gives."""
    det = get_detector("cern-ecal")
    rng = np.random.default_rng(2)
    n = 1200
    ep = np.exp(rng.uniform(np.log(2), np.log(500), n)).astype(np.float32)
    showers = rng.random((n, 25, 25, 25)).astype(np.float32)
    showers *= ((0.02 * ep + 0.5) / showers.sum(axis=(1, 2, 3)))[:, None, None, None]
    acc = StatsAccumulator(det, observables=True)
    acc.add(showers, ep[:, None], np.ones(n, np.float32))
    curve = acc.result()["sampling_fraction_curve"]
    x, y = np.array(curve["log_energy_gev"]), np.array(curve["sf_mean"])
    assert len(x) >= 6 and np.all(np.diff(x) > 0) and sum(curve["n"]) <= n
    np.testing.assert_allclose(y, 0.02 + 0.5 / np.exp(x), rtol=0.03)
    # within a bin (a factor 2.2 in E) log SF spans at most log(sf(lo) / sf(hi)) < 0.6
    assert all(0 < s < 0.6 for s in curve["log_sf_spread"])
    assert curve["log_sf_spread"][0] > curve["log_sf_spread"][-1]  # SF varies most at low E


def test_sampling_fraction_curve_of_small_samples():
    from tfcalo.physics import sampling_fraction_curve

    rng = np.random.default_rng(0)
    e = np.exp(rng.uniform(np.log(2), np.log(500), 100))
    sf = 0.02 * np.exp(rng.normal(0, 0.05, 100))
    curve = sampling_fraction_curve(e, sf)
    assert len(curve["log_energy_gev"]) == 2 and min(curve["n"]) >= 20  # 100 // 40 bins
    flat = sampling_fraction_curve(e[:30], sf[:30])
    assert flat["log_energy_gev"] == pytest.approx([np.log(e[:30].min()), np.log(e[:30].max())])
    assert flat["sf_mean"][0] == flat["sf_mean"][1] == pytest.approx(sf[:30].mean())
    assert sampling_fraction_curve(e[:19], sf[:19]) is None


def test_stats_record_the_mean_profile_along_each_axis():
    """mean_profiles: the mean of each shower's normalised projections, whatever its energy
    (a 10x brighter shower does not weigh more), per axis of the volume."""
    det = get_detector("cern-ecal")
    showers = np.zeros((2, 25, 25, 25), np.float32)
    showers[0, 3, 4, 5] = 1.0
    showers[1, 3, 6, 7] = 5.0
    showers[1, 13, 6, 7] = 5.0
    acc = StatsAccumulator(det)
    acc.add(showers[:1], np.full((1, 1), 50.0, np.float32), np.ones(1, np.float32))
    acc.add(showers[1:], np.full((1, 1), 50.0, np.float32), np.ones(1, np.float32))
    acc.add(np.zeros((1, 25, 25, 25), np.float32), np.full((1, 1), 50.0, np.float32),
            np.ones(1, np.float32))  # an empty shower has no shape and is left out
    px, py, pz = (np.array(p) for p in acc.result()["mean_profiles"])
    assert px[3] == pytest.approx(0.75) and px[13] == pytest.approx(0.25)
    assert py[4] == pytest.approx(0.5) and py[6] == pytest.approx(0.5)
    assert pz[5] == pytest.approx(0.5) and pz[7] == pytest.approx(0.5)
    assert px.sum() == pytest.approx(1.0) and pz.sum() == pytest.approx(1.0)


def test_stats_record_the_layer_profile_per_energy_bin():
    """layer_profile_curve: the mean normalised layer profile in log-spaced primary-energy
    bins (bins of fewer than 20 showers left out): built-in showers of 3.2-5 GeV peak in an
    earlier layer than those of 200-310 GeV, as the shower maximum moves with log E; the
    2D lhcb-ecal has none."""
    from tfcalo.data import simulate

    det = get_detector("cern-ecal")
    rng = np.random.default_rng(0)
    acc = StatsAccumulator(det)
    energies = {}
    for lo, hi in ((3.2, 5.0), (200.0, 310.0)):  # one bin each (edges 2 x 1.58^k GeV)
        e = rng.uniform(lo, hi, (40, 1)).astype(np.float32)
        s = simulate.cern_showers(e[:, 0], np.zeros((40, 3)), rng)
        acc.add(s, e, np.ones(len(e), np.float32))
        energies[lo] = (e, s)
    acc.add(np.ones((5, 25, 25, 25), np.float32), np.full((5, 1), 30.0, np.float32),
            np.ones(5, np.float32))  # 5 showers: a bin too small to count
    curve = acc.result()["layer_profile_curve"]
    assert curve["n"] == [40, 40]
    low, high = (np.array(p) for p in curve["profiles"])
    for (e, s), p, log_e in zip(energies.values(), (low, high), curve["log_energy_gev"],
                                strict=True):
        layers = s.sum(axis=(1, 2))
        np.testing.assert_allclose(p, (layers / layers.sum(axis=1, keepdims=True)).mean(0),
                                   rtol=1e-4, atol=1e-7)
        assert log_e == pytest.approx(np.log(e).mean(), rel=1e-6)
    assert np.argmax(high) >= np.argmax(low) + 2
    assert "layer_profile_curve" not in StatsAccumulator(get_detector("lhcb-ecal")).result()

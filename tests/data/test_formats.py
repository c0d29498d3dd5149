"""Readers and writers of the community layouts (tfcalo.data.formats)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tfcalo.data.formats import CommunityWriter, detect_detector, open_source, read_columns
from tfcalo.detectors import get_detector
from tfcalo.errors import InputFileError, UnknownNameError


def canonical(detector: str, n: int, seed: int = 0):
    """Random canonical arrays of ``detector`` (energies >= 0, conditions in range)."""
    det = get_detector(detector)
    rng = np.random.default_rng(seed)
    showers = rng.exponential(1.0, (n, *det.shower_shape)).astype(np.float32)
    if not det.nonnegative:
        showers -= 1.0
    lo = np.array([r[0] for r in det.condition_ranges])
    hi = np.array([r[1] for r in det.condition_ranges])
    conditions = (lo + (hi - lo) * rng.random((n, det.n_conditions))).astype(np.float32)
    return showers, conditions


def read_all(source, chunk_size=7, **kw):
    chunks = list(source.iter_chunks(chunk_size, **kw))
    return tuple(np.concatenate([c[i] for c in chunks]) for i in range(3))


@pytest.mark.parametrize("detector", ["lhcb-ecal", "cern-ecal", "rich-pid"])
def test_writer_reader_round_trip(tmp_path, detector):
    showers, conditions = canonical(detector, 23)
    weights = np.linspace(-1, 2, 23).astype(np.float32)
    path = tmp_path / "x.h5"
    with CommunityWriter(path, detector) as w:
        w.write(showers[:10], conditions[:10], weights[:10], extra={"tag": np.arange(10)})
        w.write(showers[10:], conditions[10:], weights[10:], extra={"tag": np.arange(10, 23)})
    with open_source(path, detector, weights_from="weight") as src:
        assert src.n == 23
        s, c, wt = read_all(src)
        assert src.max_rows_read == 7
    np.testing.assert_array_equal(s, showers)
    np.testing.assert_array_equal(c, conditions)
    np.testing.assert_array_equal(wt, weights)
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["tag"][:], np.arange(23))
    assert detect_detector(path) == detector


def test_lhcb_layout_keys_and_default_weights(tmp_path):
    showers, conditions = canonical("lhcb-ecal", 5)
    with CommunityWriter(tmp_path / "l.h5", "lhcb-ecal") as w:
        w.write(showers, conditions)
    with h5py.File(tmp_path / "l.h5") as f:
        assert set(f) == {"EnergyDeposit", "ParticlePoint", "ParticleMomentum"}
        np.testing.assert_array_equal(f["ParticleMomentum"][:], conditions[:, 3:])
    with open_source(tmp_path / "l.h5", "lhcb-ecal") as src:
        _, _, w = read_all(src)
    np.testing.assert_array_equal(w, np.ones(5, np.float32))


def test_writer_rejects_wrong_shape(tmp_path):
    with CommunityWriter(tmp_path / "c.h5", "cern-ecal") as w:
        with pytest.raises(ValueError, match="25, 25, 25"):
            w.write(np.zeros((2, 30, 30)), np.zeros((2, 1)))


def test_lhcb_npz_streams(tmp_path):
    showers, conditions = canonical("lhcb-ecal", 11)
    path = tmp_path / "l.npz"
    np.savez(path, EnergyDeposit=showers, ParticlePoint=conditions[:, :3],
             ParticleMomentum=conditions[:, 3:].astype(np.float64))
    with open_source(path, "lhcb-ecal") as src:
        s, c, _ = read_all(src, chunk_size=4)
        assert src.max_rows_read == 4
    np.testing.assert_array_equal(s, showers)
    np.testing.assert_allclose(c, conditions)


def test_cern_target_column(tmp_path):
    showers, conditions = canonical("cern-ecal", 6)
    target = np.zeros((6, 4), np.float32)
    target[:, 1] = conditions[:, 0]
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["ECAL"] = showers
        f["target"] = target
    with open_source(tmp_path / "c.h5", "cern-ecal") as src:
        _, c, _ = read_all(src)
    np.testing.assert_array_equal(c[:, 0], conditions[:, 0])


def test_calochallenge_maps_to_cern(tmp_path):
    showers, conditions = canonical("cern-ecal", 4)
    # CaloChallenge: MeV, flattened layer-major (layer, x, y)
    flat = (showers.transpose(0, 3, 1, 2) * 1000.0).reshape(4, -1)
    with h5py.File(tmp_path / "cc.h5", "w") as f:
        f["showers"] = flat
        f["incident_energies"] = conditions * 1000.0
    with open_source(tmp_path / "cc.h5", "cern-ecal") as src:
        assert src.layout == "calochallenge"
        s, c, _ = read_all(src)
    np.testing.assert_allclose(s, showers, rtol=1e-6)
    np.testing.assert_allclose(c, conditions, rtol=1e-6)


def test_calochallenge_other_geometry_names_shape(tmp_path):
    with h5py.File(tmp_path / "cc.h5", "w") as f:
        f["showers"] = np.zeros((3, 6480), np.float32)
        f["incident_energies"] = np.ones((3, 1), np.float32)
    with pytest.raises(InputFileError, match=r"\(3, 6480\).*25\*25\*25"):
        open_source(tmp_path / "cc.h5", "cern-ecal")


def test_rich_csv_with_weights(tmp_path):
    showers, conditions = canonical("rich-pid", 9)
    det = get_detector("rich-pid")
    path = tmp_path / "r.csv"
    header = [*det.condition_names, *det.shower_names, "sweight"]
    rows = np.concatenate([conditions, showers, np.arange(9)[:, None] - 3.0], axis=1)
    path.write_text(",".join(header) + "\n"
                    + "\n".join(",".join(repr(float(v)) for v in r) for r in rows) + "\n")
    with open_source(path, "rich-pid", weights_from="sweight") as src:
        assert src.n == 9
        s, c, w = read_all(src, chunk_size=4)
    np.testing.assert_allclose(s, showers, rtol=1e-6)
    np.testing.assert_allclose(c, conditions, rtol=1e-6)
    np.testing.assert_array_equal(w, np.arange(9) - 3.0)


# -- bad input: one sentence naming the file and the problem ---------------------------

def _h5(path, **arrays):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f[k] = v
    return path


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.h5 does not exist"):
        open_source(tmp_path / "nope.h5", "lhcb-ecal")


def test_not_hdf5(tmp_path):
    p = tmp_path / "text.h5"
    p.write_text("hello, I am not HDF5\n")
    with pytest.raises(InputFileError, match=r"text\.h5 is not an HDF5 file"):
        open_source(p, "lhcb-ecal")


def test_truncated_hdf5(tmp_path):
    s, c = canonical("lhcb-ecal", 50)
    p = _h5(tmp_path / "t.h5", EnergyDeposit=s, ParticlePoint=c[:, :3], ParticleMomentum=c[:, 3:])
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"t\.h5 .*(truncated|corrupt)"):
        src = open_source(p, "lhcb-ecal")
        read_all(src)


def test_empty_file(tmp_path):
    p = tmp_path / "e.h5"
    p.write_bytes(b"")
    with pytest.raises(InputFileError, match=r"e\.h5 is empty"):
        open_source(p, "lhcb-ecal")


def test_zero_rows(tmp_path):
    p = _h5(tmp_path / "z.h5", ECAL=np.zeros((0, 25, 25, 25), np.float32),
            energy=np.zeros(0, np.float32))
    with pytest.raises(InputFileError, match=r"z\.h5 holds no examples"):
        open_source(p, "cern-ecal")


def test_missing_key_names_keys_found(tmp_path):
    p = _h5(tmp_path / "m.h5", EnergyDeposit=np.zeros((2, 30, 30)), Foo=np.zeros(2))
    with pytest.raises(InputFileError,
                       match=r"m\.h5 has no 'ParticlePoint'.*keys found: EnergyDeposit, Foo"):
        open_source(p, "lhcb-ecal")


def test_length_mismatch(tmp_path):
    p = _h5(tmp_path / "l.h5", ECAL=np.zeros((5, 25, 25, 25), np.float32),
            energy=np.ones(4, np.float32))
    with pytest.raises(InputFileError, match=r"l\.h5: 'ECAL' has 5 rows but 'energy' has 4"):
        open_source(p, "cern-ecal")


def test_wrong_shower_shape(tmp_path):
    p = _h5(tmp_path / "w.h5", ECAL=np.zeros((5, 20, 20, 20), np.float32),
            energy=np.ones(5, np.float32))
    with pytest.raises(InputFileError, match=r"w\.h5: 'ECAL' has shape \(5, 20, 20, 20\)"):
        open_source(p, "cern-ecal")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf(tmp_path, bad):
    s, c = canonical("cern-ecal", 10)
    c[7, 0] = bad
    p = _h5(tmp_path / "n.h5", ECAL=s, energy=c[:, 0])
    with open_source(p, "cern-ecal") as src, pytest.raises(
            InputFileError, match=r"n\.h5: 'energy' has 1 NaN or infinite.*first at example 7"):
        read_all(src, chunk_size=4)


def test_negative_energy_error_and_clip(tmp_path):
    s, c = canonical("lhcb-ecal", 10)
    s[3, 2, 2] = -5.0
    s[8, 0, 1] = -1.0
    p = _h5(tmp_path / "neg.h5", EnergyDeposit=s, ParticlePoint=c[:, :3],
            ParticleMomentum=c[:, 3:])
    with open_source(p, "lhcb-ecal") as src, pytest.raises(
            InputFileError, match=r"neg\.h5: 'EnergyDeposit' has negative.*example 3.*"
                                  r"--clip-negative"):
        read_all(src)
    with open_source(p, "lhcb-ecal") as src:
        got, _, _ = read_all(src, clip_negative=True)
        assert src.n_clipped == 2
    assert got.min() == 0.0 and got[3, 2, 2] == 0.0
    np.testing.assert_array_equal(got[got > 0], s[s > 0])


def test_unknown_detector_suggests():
    with pytest.raises(UnknownNameError, match="did you mean 'cern-ecal'"):
        open_source("whatever.h5", "cern")


def test_missing_weight_column(tmp_path):
    s, c = canonical("cern-ecal", 3)
    p = _h5(tmp_path / "c.h5", ECAL=s, energy=c[:, 0])
    with pytest.raises(InputFileError, match=r"no weight column 'sw'.*keys found: ECAL, energy"):
        open_source(p, "cern-ecal", weights_from="sw")


# -- the shared Geant4 files -----------------------------------------------------------

@pytest.mark.parametrize("name,detector,shape", [
    ("g4_lhcb_ecal_train.h5", "lhcb-ecal", (30, 30)),
    ("g4_cern_ecal_train.h5", "cern-ecal", (25, 25, 25)),
])
def test_shared_file_opens_and_reads_one_chunk(shared_data, name, detector, shape):
    with open_source(shared_data / name, detector) as src:
        assert src.n >= 10_000
        showers, conditions, weights = next(src.iter_chunks(50))
        assert src.max_rows_read == 50
    assert showers.shape == (50, *shape) and showers.dtype == np.float32
    assert showers.min() >= 0 and np.isfinite(conditions).all()
    np.testing.assert_array_equal(weights, 1.0)


# -- issue 10: values and layouts that must never pass silently ---------------------------


def _lhcb_arrays(n=6, **edit):
    rng = np.random.default_rng(3)
    arrays = {"EnergyDeposit": rng.exponential(1.0, (n, 30, 30)),
              "ParticlePoint": np.zeros((n, 3)), "ParticleMomentum": np.tile([0, 0, 50.0], (n, 1))}
    arrays.update(edit)
    return arrays


def test_float64_beyond_float32_range_is_refused(tmp_path):
    """1e39 is finite in float64 but inf once cast to the artifact's float32."""
    e = _lhcb_arrays()["EnergyDeposit"]
    e[4, 2, 2] = 1e39
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        for k, v in _lhcb_arrays(EnergyDeposit=e).items():
            f[k] = v
    with open_source(path, "lhcb-ecal") as src, pytest.raises(InputFileError) as err:
        read_all(src)
    assert "'EnergyDeposit'" in str(err.value) and "example 4" in str(err.value)
    assert "float32" in str(err.value)


@pytest.mark.parametrize("value, kind", [
    (np.ones((6, 3), bool), "boolean"), (np.ones((6, 3), np.complex64), "complex"),
    (np.array([[b"a", b"b", b"c"]] * 6), "string"),
    (np.zeros((6, 3), np.dtype([("a", "f4"), ("b", "f4"), ("c", "f4")])), "compound")])
def test_non_real_dtypes_are_refused(tmp_path, value, kind):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        for k, v in _lhcb_arrays(ParticlePoint=value).items():
            f[k] = v
    with pytest.raises(InputFileError, match=f"'ParticlePoint' holds {kind} values"):
        open_source(path, "lhcb-ecal")


def test_csv_byte_order_mark_is_stripped(tmp_path):
    det = get_detector("rich-pid")
    names = [*det.condition_names, *det.shower_names]
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (",".join(names) + "\n1,3,40,1,2,3,4,5\n").encode())
    with open_source(path, "rich-pid") as src:
        showers, conditions, _ = read_all(src)
    np.testing.assert_array_equal(conditions, [[1, 3, 40]])
    np.testing.assert_array_equal(showers, [[1, 2, 3, 4, 5]])


def test_csv_duplicate_header_is_refused(tmp_path):
    det = get_detector("rich-pid")
    names = [*det.condition_names, *det.shower_names, "p"]
    path = tmp_path / "dup.csv"
    path.write_text(",".join(names) + "\n" + ",".join(["1"] * len(names)) + "\n")
    with pytest.raises(InputFileError, match="column 'p' appears more than once"):
        open_source(path, "rich-pid")


def test_hdf5_external_links_are_covered_by_the_source_hash(tmp_path):
    from tfcalo.data.formats import file_sha256, source_sha256

    data = tmp_path / "data.h5"
    with h5py.File(data, "w") as f:
        f["EnergyDeposit"] = _lhcb_arrays()["EnergyDeposit"]
    link = tmp_path / "link.h5"
    with h5py.File(link, "w") as f:
        f["EnergyDeposit"] = h5py.ExternalLink("data.h5", "/EnergyDeposit")
        f["ParticlePoint"] = _lhcb_arrays()["ParticlePoint"]
        f["ParticleMomentum"] = _lhcb_arrays()["ParticleMomentum"]
    with open_source(link, "lhcb-ecal") as src:
        assert src.linked_files == [data]
        first = source_sha256(link, src.linked_files)
    assert first != file_sha256(link)
    with h5py.File(data, "a") as f:  # the linked showers change, the linking file does not
        f["EnergyDeposit"][0, 0, 0] = 123.0
    with open_source(link, "lhcb-ecal") as src:
        assert source_sha256(link, src.linked_files) != first


def test_read_columns_of_hdf5_npz_and_csv(tmp_path):
    """The small-table reader (a conditions file): named 1-D columns, in the asked order."""
    want = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["b"], f["a"], f["other"] = want[:, 1], want[:, 0], np.zeros((3, 2))
    np.savez(tmp_path / "t.npz", a=want[:, 0], b=want[:, 1])
    (tmp_path / "t.csv").write_text("b,x,a\n10,q,1\n\n20,q,2\n30,q,3\n")
    for name in ("t.h5", "t.npz", "t.csv"):
        np.testing.assert_array_equal(read_columns(tmp_path / name, ["a", "b"]), want)
    with pytest.raises(InputFileError, match=r"conditions file .* lacks column\(s\) c"):
        read_columns(tmp_path / "t.h5", ["a", "c"], what="conditions file")
    with pytest.raises(InputFileError, match="'other' must be 1-D"):
        read_columns(tmp_path / "t.h5", ["other"])
    with pytest.raises(InputFileError, match="non-numeric"):
        read_columns(tmp_path / "t.csv", ["x"])
    np.savez(tmp_path / "r.npz", a=np.zeros(3), b=np.zeros(2))
    with pytest.raises(InputFileError, match="different lengths"):
        read_columns(tmp_path / "r.npz", ["a", "b"])
    (tmp_path / "e.csv").write_text("a\n")
    assert read_columns(tmp_path / "e.csv", ["a"]).shape == (0, 1)

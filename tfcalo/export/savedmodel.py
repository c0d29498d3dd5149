"""Export a generator as a TensorFlow SavedModel (+ model card, optional ONNX) and verify it.

The exported directory needs TensorFlow only (no tfcalo) to be used:

.. code-block:: python

    import tensorflow as tf
    m = tf.saved_model.load("exported")
    showers = m.generate(conditions)["showers"]              # fresh randomness
    showers = m.generate(conditions, seed=7)["showers"]      # reproducible
    showers = m.generate_from_noise(noise, conditions)["showers"]

Signatures (also the SavedModel ``signature_def`` entries, ``serving_default`` =
``generate``); physical units in and out:

- ``generate(conditions float32 (B, n_cond), seed int64 scalar = -1) -> {"showers": (B,
  *shower_shape)}``: the noise is drawn inside; ``seed >= 0`` uses
  :func:`tfcalo.models.noise.latent_noise` (row i is row i % 128 of
  ``tf.random.stateless_normal((128, latent_dim), seed=[seed, i // 128])``), the same noise
  as ``ConditionalGAN.generate`` and :class:`tfcalo.export.sampling.Sampler` for that seed, so all
  three give the same showers; ``seed < 0`` draws fresh noise with ``tf.random.normal``.
- ``generate_from_noise(noise float32 (B, latent_dim), conditions float32 (B, n_cond)) ->
  {"showers": ...}``.

``model_card.json`` sits next to ``saved_model.pb`` (see :func:`build_card` for its keys);
its ``content_hash`` (:mod:`tfcalo.export.integrity`, sha256 over saved_model.pb, variables/
and the other loaded files, computed once they are written) lets
:func:`tfcalo.export.integrity.verify_export_hash` tell whether the files changed since export. A SavedModel is a program (any TensorFlow op, file
writes included, can sit in its signatures): load only models from sources you trust.
:func:`export_generator` refuses an unblessed model unless ``force``; it reloads the export in
a fresh Python process that imports only TensorFlow and compares outputs for fixed noise; with
``onnx=True`` it converts ``generate_from_noise`` with tf2onnx and checks it with onnxruntime
(:mod:`tfcalo.export.onnx`). :func:`export_run` does all this for a trained run directory.
The output directory is written atomically: a failed export or verification leaves nothing.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfcalo.atomic import atomic_dir, check_output
from tfcalo.detectors import Detector, get_detector
from tfcalo.errors import ArtifactError, NotBlessedError
from tfcalo.export.integrity import CARD_KEY as CONTENT_HASH_KEY
from tfcalo.export.integrity import export_content_hash
from tfcalo.export.sampling import MODEL_CARD, load_run_generator
from tfcalo.training.run_record import data_hash, read_run

BLESSING_JSON = "blessing.json"
CARD_FORMAT = "tfcalo-savedmodel"
CARD_FORMAT_VERSION = 1
VERIFY_SEED = 1234


class VerificationError(ArtifactError):
    """An exported model did not reproduce the in-memory generator (nothing is kept)."""


# --------------------------------------------------------------------------- blessing


def read_blessing(evaluation: str | Path) -> dict:
    """Read ``blessing.json`` (``{"blessed": bool, ...}``) of an evaluation artifact directory.

    Raises:
        ArtifactError: the directory or its blessing.json is missing, unreadable, or lacks a
            boolean ``blessed``.
    """
    evaluation = Path(evaluation)
    path = evaluation / BLESSING_JSON
    if not evaluation.is_dir():
        raise ArtifactError(f"evaluation directory {evaluation} does not exist")
    if not path.is_file():
        raise ArtifactError(f"evaluation directory {evaluation} has no {BLESSING_JSON}")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("blessed"), bool):
        raise ArtifactError(f"{path} has no boolean 'blessed' key")
    return {**data, "source": str(path)}


def read_evaluation_metrics(evaluation: str | Path) -> dict:
    """The evaluation's ``metrics.json`` (a dict), or ``{}`` if there is none."""
    path = Path(evaluation) / "metrics.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not readable JSON ({exc})") from None
    return data if isinstance(data, dict) else {"value": data}


def check_blessing(blessing: bool | dict | str | Path | None, force: bool,
                   model: str = "the model") -> dict:
    """Decide whether export may proceed; return the blessing record for the model card.

    Args:
        blessing: ``True``/``False``; a blessing dict ``{"blessed": bool, ...}``; an
            evaluation directory holding blessing.json; or ``None`` (never evaluated, which
            counts as not blessed).
        force: export even if not blessed (recorded as ``"forced": true``).
        model: how to name the model in the error sentence.

    Raises:
        NotBlessedError: not blessed and not forced.
    """
    if blessing is None:
        record: dict[str, Any] = {"blessed": False, "source": None}
    elif isinstance(blessing, bool):
        record = {"blessed": blessing, "source": "argument"}
    elif isinstance(blessing, dict):
        if not isinstance(blessing.get("blessed"), bool):
            raise ArtifactError("blessing dict has no boolean 'blessed' key")
        record = {"source": "argument", **blessing}
    else:
        record = read_blessing(blessing)
    record["forced"] = bool(force and not record["blessed"])
    if not record["blessed"] and not force:
        if record["source"] is None:
            why = "has no blessing (pass an evaluation)"
        else:
            reasons = [c.get("metric", "?") for c in record.get("checks", [])
                       if isinstance(c, dict) and not c.get("passed", True)]
            reasons = [f"failed {', '.join(map(str, reasons))}"] if reasons else []
            detail = f": {'; '.join(map(str, reasons[:3]))}" if reasons else ""
            why = f"is not blessed by {record['source']}{detail}"
        raise NotBlessedError(f"{model} {why}; pass --force (force=True) to export anyway")
    return record


# --------------------------------------------------------------------------- card


def _versions() -> dict:
    import keras
    import tensorflow as tf

    from tfcalo import __version__

    return {"tfcalo": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def build_card(detector: Detector, latent_dim: int, *, training_data_hash: str | None,
               metrics: dict | None, blessing: dict | None, model: str | None = None,
               extra: dict | None = None,
               condition_ranges: Sequence[Sequence[float]] | None = None) -> dict:
    """The ``model_card.json`` content (verification, ONNX and content_hash entries are
    added by :func:`export_generator`).

    Keys: format, format_version, model, detector, detector_spec, conditions (name, unit,
    range each), condition_names, shower_shape, energy_unit, latent_dim, signatures,
    training_data_hash, metrics, blessing, versions, created (UTC ISO 8601), plus ``extra``.
    """
    from tfcalo.models.noise import NOISE_CHUNK

    card = {
        "format": CARD_FORMAT,
        "format_version": CARD_FORMAT_VERSION,
        "model": model,
        "detector": detector.name,
        "detector_spec": detector.to_dict(),
        "conditions": [
            {"name": n, "unit": u, "range": list(r)}
            for n, u, r in zip(detector.condition_names, detector.condition_units,
                               condition_ranges or detector.condition_ranges, strict=True)
        ],
        "condition_names": list(detector.condition_names),
        "shower_shape": list(detector.shower_shape),
        "energy_unit": detector.energy_unit,
        "latent_dim": int(latent_dim),
        "signatures": {
            "generate": {
                "inputs": {"conditions": f"float32 (B, {detector.n_conditions})",
                           "seed": "int64 scalar, default -1; >= 0 reproducible (noise row "
                                   f"i = row i % {NOISE_CHUNK} of stateless_normal(("
                                   f"{NOISE_CHUNK}, latent_dim), seed=[seed, i // "
                                   f"{NOISE_CHUNK}])), < 0 fresh noise"},
                "outputs": {"showers": f"float32 (B, {', '.join(map(str, detector.shower_shape))})"},
            },
            "generate_from_noise": {
                "inputs": {"noise": f"float32 (B, {int(latent_dim)}) standard normal",
                           "conditions": f"float32 (B, {detector.n_conditions})"},
                "outputs": {"showers": f"float32 (B, {', '.join(map(str, detector.shower_shape))})"},
            },
        },
        "training_data_hash": training_data_hash,
        "metrics": metrics or {},
        "blessing": blessing,
        "versions": _versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    card.update(extra or {})
    return card


# --------------------------------------------------------------------------- SavedModel


def write_saved_model(generator: Any, detector: Detector, path: str | Path) -> None:
    """Write ``generator`` as a SavedModel with the two signatures (no card, no checks).

    Args:
        generator: a keras.Model (built) or tf.Module with ``latent_dim`` and
            ``generator([noise, conditions], training=False) -> showers``.
        detector: its detector spec.
        path: an empty or missing directory.
    """
    import keras
    import tensorflow as tf

    from tfcalo.models.noise import latent_noise

    latent_dim = int(generator.latent_dim)
    n_cond = detector.n_conditions

    def generate_from_noise(noise, conditions):
        return {"showers": generator([noise, conditions], training=False)}

    # a tensor default makes `seed` optional for Python callers of the reloaded model
    def generate(conditions, seed=tf.constant(-1, dtype=tf.int64)):  # noqa: B008
        n = tf.shape(conditions)[0]
        noise = tf.cond(seed < 0, lambda: tf.random.normal(tf.stack([n, latent_dim])),
                        lambda: latent_noise(seed, n, latent_dim))
        return {"showers": generator([noise, conditions], training=False)}

    cond_spec = tf.TensorSpec((None, n_cond), tf.float32, name="conditions")
    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint("generate", generate, input_signature=[
        cond_spec, tf.TensorSpec((), tf.int64, name="seed")])
    archive.add_endpoint("generate_from_noise", generate_from_noise, input_signature=[
        tf.TensorSpec((None, latent_dim), tf.float32, name="noise"), cond_spec])
    archive.write_out(str(path), verbose=False)


def verification_inputs(detector: Detector, latent_dim: int, n: int = 8,
                        seed: int = VERIFY_SEED,
                        ranges: Sequence[Sequence[float]] | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Fixed noise ``(n, latent_dim)`` and conditions ``(n, n_cond)`` spread over the ranges.

    ``ranges``: (low, high) per condition, normally those of the training data (where the
    generator is meant to work); default the detector's validity ranges.
    """
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, latent_dim)).astype(np.float32)
    ranges = detector.condition_ranges if ranges is None else ranges
    low = np.array([r[0] for r in ranges], dtype=np.float64)
    high = np.array([r[1] for r in ranges], dtype=np.float64)
    conditions = (low + (high - low) * rng.uniform(0.1, 0.9, (n, len(low)))).astype(np.float32)
    return noise, conditions


_CHILD = r"""
import json, sys
import numpy as np
import tensorflow as tf
path, io = sys.argv[1], sys.argv[2]
noise = np.load(io + "/noise.npy"); cond = np.load(io + "/conditions.npy")
seed = int(sys.argv[3])
m = tf.saved_model.load(path)
sig = m.signatures
from_noise = sig["generate_from_noise"](noise=tf.constant(noise), conditions=tf.constant(cond))
np.save(io + "/from_noise.npy", from_noise["showers"].numpy())
s = tf.constant(seed, tf.int64)
a = sig["generate"](conditions=tf.constant(cond), seed=s)["showers"].numpy()
b = sig["generate"](conditions=tf.constant(cond), seed=s)["showers"].numpy()
c = sig["generate"](conditions=tf.constant(cond), seed=s + 1)["showers"].numpy()
d = m.generate(tf.constant(cond))["showers"].numpy()
np.save(io + "/seeded.npy", a)
print(json.dumps({
    "signatures": sorted(sig.keys()),
    "tfcalo_imported": any(k == "tfcalo" or k.startswith("tfcalo.") for k in sys.modules),
    "seed_reproducible": bool(np.array_equal(a, b)),
    "seeds_differ": bool(not np.array_equal(a, c)),
    "default_seed_shape": list(d.shape),
}))
"""


def _run_child(saved: Path, io: Path, seed: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    # the child runs in ``io``: a relative export path would point elsewhere there
    saved, io = Path(saved).resolve(), Path(io).resolve()
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(saved), str(io), str(seed)],
                          cwd=io, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise VerificationError(
            f"reloading the export in a fresh process failed ({last[:300]})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def verify_saved_model(generator: Any, detector: Detector, path: str | Path, *,
                       n: int = 8, atol: float = 1e-5, rtol: float = 1e-5,
                       ranges: Sequence[Sequence[float]] | None = None) -> dict:
    """Reload ``path`` in a fresh Python process (TensorFlow only) and compare to Keras.

    Checks: ``generate_from_noise`` equals ``generator([noise, conditions])`` for fixed noise
    within ``atol + rtol * max|expected|``; ``generate`` with a seed equals the generator on
    :func:`~tfcalo.models.noise.latent_noise` noise, is identical for the same seed and differs
    for another; the child never imported tfcalo.

    Returns:
        the ``verification`` record of the model card.

    Raises:
        VerificationError: any check fails.
    """
    from tfcalo.models.noise import latent_noise

    latent_dim = int(generator.latent_dim)
    noise, cond = verification_inputs(detector, latent_dim, n, ranges=ranges)
    expected = np.asarray(generator([noise, cond], training=False))
    seed_noise = latent_noise(VERIFY_SEED, n, latent_dim)
    expected_seeded = np.asarray(generator([seed_noise, cond], training=False))
    with tempfile.TemporaryDirectory(prefix="tfcalo-verify-") as io_name:
        io = Path(io_name)
        np.save(io / "noise.npy", noise)
        np.save(io / "conditions.npy", cond)
        child = _run_child(Path(path), io, VERIFY_SEED)
        got = np.load(io / "from_noise.npy")
        got_seeded = np.load(io / "seeded.npy")
    if child["tfcalo_imported"]:
        raise VerificationError("the reloaded export imported tfcalo; it must need TensorFlow only")
    if got.shape != expected.shape:
        raise VerificationError(
            f"reloaded export returns shape {got.shape}, the generator {expected.shape}")
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    tolerance = atol + rtol * scale
    max_diff = float(np.max(np.abs(got - expected))) if expected.size else 0.0
    seeded_diff = float(np.max(np.abs(got_seeded - expected_seeded)))
    record = {
        "n": n, "max_abs_diff": max_diff, "seeded_max_abs_diff": seeded_diff,
        "tolerance": tolerance, "atol": atol, "rtol": rtol, "max_abs_expected": scale,
        "seed_reproducible": child["seed_reproducible"], "seeds_differ": child["seeds_differ"],
        "fresh_process_imports_tfcalo": child["tfcalo_imported"],
        "signatures": child["signatures"],
    }
    if not (max_diff <= tolerance and seeded_diff <= tolerance):
        raise VerificationError(
            f"reloaded export differs from the generator by {max(max_diff, seeded_diff):.3g} "
            f"(tolerance {tolerance:.3g})")
    if not child["seed_reproducible"] or not child["seeds_differ"]:
        raise VerificationError("the exported generate signature does not honour its seed")
    return record


# --------------------------------------------------------------------------- entry points


def export_generator(generator: Any, detector: Detector | str, out_dir: str | Path, *,
                     blessing: bool | dict | str | Path | None = None, force: bool = False,
                     onnx: bool = False, training_data_hash: str | None = None,
                     metrics: dict | None = None, model: str | None = None,
                     extra_card: dict | None = None, overwrite: bool = False,
                     condition_ranges: Sequence[Sequence[float]] | None = None) -> dict:
    """Export any conforming generator (keras.Model or tf.Module) and verify the result.

    Args:
        generator: object with ``latent_dim`` and ``generator([noise, conditions],
            training=False)``: noise ``(B, latent_dim)``, physical conditions ``(B, n_cond)``
            -> physical showers ``(B, *shower_shape)``. An ensemble/mixture works the same.
        detector: detector spec or name.
        out_dir: output directory (written atomically).
        blessing: see :func:`check_blessing` (``None`` = not blessed).
        force: export even if not blessed.
        onnx: also write ``model.onnx`` (tf2onnx) checked with onnxruntime.
        training_data_hash, metrics, model, extra_card: recorded in the model card.
        overwrite: replace an existing non-empty ``out_dir``.
        condition_ranges: (low, high) per condition of the training data: recorded in the
            card and used for the verification inputs (default: the detector's ranges).

    Returns:
        the model card (also written to ``out_dir/model_card.json``).

    Raises:
        NotBlessedError: not blessed and not forced (nothing is written).
        OutputExistsError: ``out_dir`` is not empty and ``overwrite`` is False.
        VerificationError: the reloaded export (or ONNX) disagrees (nothing is kept).
    """
    detector = get_detector(detector)
    record = check_blessing(blessing, force, model or "the model")
    card = build_card(detector, int(generator.latent_dim), training_data_hash=training_data_hash,
                      metrics=metrics, blessing=record, model=model, extra=extra_card,
                      condition_ranges=condition_ranges)
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        write_saved_model(generator, detector, tmp)
        card["verification"] = verify_saved_model(generator, detector, tmp,
                                                  ranges=condition_ranges)
        card["onnx"] = None
        if onnx:
            from tfcalo.export.onnx import ONNX_FILE, convert_onnx, verify_onnx

            convert_onnx(tmp, tmp / ONNX_FILE)
            card["onnx"] = verify_onnx(generator, detector, tmp / ONNX_FILE,
                                       ranges=condition_ranges)
        # over the files as written (model_card.json excluded): tfcalo.export.integrity
        card[CONTENT_HASH_KEY] = export_content_hash(tmp)
        (tmp / MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


def training_condition_ranges(info: dict, detector: Detector) -> list[list[float]] | None:
    """(min, max) per condition of the training data from run.json's ``stats``, if recorded."""
    cols = (info.get("stats") or {}).get("conditions")
    if not isinstance(cols, dict):
        return None
    try:
        return [[float(cols[n]["min"]), float(cols[n]["max"])] for n in detector.condition_names]
    except (KeyError, TypeError, ValueError):
        return None


def export_run(run_dir: str | Path, out_dir: str | Path, *,
               evaluation: str | Path | None = None, force: bool = False, onnx: bool = False,
               overwrite: bool = False) -> dict:
    """Export the generator of a trained run directory (see :func:`export_generator`);
    ``tfcalo export`` and the export component.

    Args:
        run_dir: trained run directory (run.json + weights, or an AdaGAN ensemble).
        out_dir: SavedModel output directory (written atomically; must be empty or missing
            unless ``overwrite``).
        evaluation: evaluation artifact directory whose blessing.json decides whether the
            model may be exported (and whose metrics.json goes into the card); without one
            the model counts as not blessed.
        force: export even if not blessed (recorded in the model card).
        onnx: also write and check ``model.onnx``.
        overwrite: replace an earlier export in ``out_dir`` (never a directory that is not
            a tfcalo export, nor one that is, contains or lies inside an input).

    Returns:
        the model card dict.

    Raises:
        NotBlessedError, ArtifactError, OutputExistsError, OutputConflictError,
        VerificationError.
    """
    # the output may not be, contain or lie inside an input; overwrite only replaces an
    # earlier export (model_card.json + saved_model.pb), once the new one is verified
    check_output(out_dir, "export", [run_dir, evaluation], overwrite)
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ArtifactError(f"model run directory {run_dir} does not exist")
    info = read_run(run_dir, required=("detector",))
    detector = get_detector(info["detector"])
    name = info.get("model")
    label = f"model {run_dir}"
    record = check_blessing(evaluation, force, label)  # before the (slow) model load
    metrics = read_evaluation_metrics(evaluation) if evaluation is not None else {}
    generator = load_run_generator(run_dir)
    return export_generator(
        generator, detector, out_dir, blessing=record, force=force, onnx=onnx,
        condition_ranges=training_condition_ranges(info, detector),
        training_data_hash=data_hash(info), metrics=metrics,
        model=str(name) if name else None,
        extra_card={"source_run": str(run_dir.resolve()), "seed": info.get("seed"),
                    "epochs": info.get("epochs_done", info.get("epochs"))},
        overwrite=overwrite)


def card_properties(card: dict) -> dict:
    """The small, JSON-able summary of a model card that the export component records as
    its SavedModel artifact's properties."""
    onnx = card.get("onnx") or {}
    return {
        "detector": card["detector"],
        "latent_dim": card["latent_dim"],
        "blessed": bool(card["blessing"]["blessed"]),
        "forced": bool(card["blessing"].get("forced")),
        "verification_max_abs_diff": card["verification"]["max_abs_diff"],
        "onnx": bool(onnx),
        "onnx_max_abs_diff": onnx.get("max_abs_diff"),
        "training_data_hash": card.get("training_data_hash"),
    }

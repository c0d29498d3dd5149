"""Content hashes of exported SavedModels (the ``content_hash`` entry of ``model_card.json``).

A SavedModel is a program: its signatures may contain any TensorFlow op (``tf.io.write_file``
included), and loading and calling it runs them. The content hash does not make a model from
an untrusted source safe; it lets tfcalo check that a model it ships (``tfcalo/pretrained/
<name>/``) or one it exported is byte for byte what was written at export time.

Definition (:func:`export_content_hash`): sha256 over the files TensorFlow (or onnxruntime)
loads from an export directory: ``saved_model.pb``, ``fingerprint.pb``, every file under
``variables/`` and ``assets/``, and ``model.onnx``, those that exist. Files are taken in
sorted order of their POSIX path relative to the directory, and each contributes
``path + NUL + size (8 bytes little-endian) + content``. ``model_card.json`` (which records
the hash) and anything else in the directory (an evaluation report beside a pretrained
model) are not covered. The card also records the list of covered files, so an added or
removed variables shard is noticed too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tfcalo.errors import ArtifactError

#: Top-level files and directories of an export that the content hash covers.
HASHED_FILES = ("saved_model.pb", "fingerprint.pb", "model.onnx")
HASHED_DIRS = ("variables", "assets")
ALGORITHM = "sha256"
CARD_KEY = "content_hash"
_BLOCK = 1 << 20


def hashed_files(path: str | Path) -> list[str]:
    """The files of export directory ``path`` that the content hash covers (sorted POSIX
    paths relative to ``path``)."""
    path = Path(path)
    names = [n for n in HASHED_FILES if (path / n).is_file()]
    for d in HASHED_DIRS:
        if (path / d).is_dir():
            names += [p.relative_to(path).as_posix() for p in (path / d).rglob("*")
                      if p.is_file()]
    return sorted(names)


def export_content_hash(path: str | Path) -> dict:
    """The content hash record of export directory ``path`` (see the module docstring).

    Returns:
        ``{"algorithm": "sha256", "sha256": hex digest, "files": [relative paths]}``.

    Raises:
        ArtifactError: ``path`` has no ``saved_model.pb``.
    """
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise ArtifactError(f"{path} is not a SavedModel (no saved_model.pb)")
    files = hashed_files(path)
    digest = hashlib.sha256()
    for name in files:
        file = path / name
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(file.stat().st_size.to_bytes(8, "little"))
        with file.open("rb") as f:
            while block := f.read(_BLOCK):
                digest.update(block)
    return {"algorithm": ALGORITHM, "sha256": digest.hexdigest(), "files": files}


def verify_export_hash(path: str | Path) -> dict:
    """Check export directory ``path`` against the content hash in its ``model_card.json``.

    Returns:
        the recomputed hash record (equal to the card's).

    Raises:
        ArtifactError: the card is missing, unreadable or records no content hash, or the
            files differ from what was exported (changed, added or removed).

    Example:
        >>> verify_export_hash("exported/sagan")["sha256"]   # doctest: +SKIP
        '3f5c...'
    """
    path = Path(path)
    card_path = path / "model_card.json"
    try:
        card = json.loads(card_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{card_path} is not readable JSON ({exc})") from None
    recorded = card.get(CARD_KEY) if isinstance(card, dict) else None
    if not isinstance(recorded, dict) or not isinstance(recorded.get(ALGORITHM), str):
        raise ArtifactError(f"{card_path} records no content hash, so the model in {path} "
                            "cannot be verified")
    actual = export_content_hash(path)
    if actual[ALGORITHM] != recorded[ALGORITHM]:
        expected = recorded.get("files")
        changed = ""
        if isinstance(expected, list) and expected != actual["files"]:
            extra = sorted(set(actual["files"]) - set(expected))
            missing = sorted(set(expected) - set(actual["files"]))
            changed = "; " + ", ".join([f"added {n}" for n in extra[:2]]
                                       + [f"missing {n}" for n in missing[:2]])
        raise ArtifactError(
            f"the model in {path} does not match the content hash recorded in its "
            f"model_card.json (its files were changed after export{changed}); do not load "
            "it, reinstall or re-export it")
    return actual

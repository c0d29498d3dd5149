"""Boost-weight component (AdaGAN, seed 002): MIXDISC -> data weights for the next GAN.

Inputs: ``examples`` (Examples, the canonical dataset) and ``ensemble`` (Model: the ensemble artifact of the
current mixture G_0..G_{t-1}). Output: ``weights`` (Weights): one weight per training example,
aligned by the dataset's ``index`` (the showers are never copied). Parameters: ``t`` (index
of the component the weights are for), ``beta`` ("1/(t+1)" or a number), ``max_iter`` (GBDT
iterations of MIXDISC), ``seed``.

MIXDISC is trained on the real training split (label 1) against an equal number of ensemble
showers generated for the same conditions (label 0); see :mod:`tfcalo.training.adagan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfcalo.engine.runner import Artifact, Component, log
from tfcalo.errors import ArtifactError

VERSION = "2"
STREAM_BATCH = 1024  # showers read and generated at a time


def compute_boost_weights(examples: str | Path, ensemble_dir: str | Path, out_dir: str | Path,
                          t: int, beta: Any = "1/(t+1)", max_iter: int = 100,
                          seed: int = 0, max_examples: int = 0, max_fit: int = 50_000) -> dict:
    """Write the boosting weights for component ``t`` into the existing dir ``out_dir``.

    Args:
        examples: canonical dataset directory.
        ensemble_dir: ensemble artifact directory (ensemble.json) of G_0..G_{t-1}.
        out_dir: existing empty directory (the Weights artifact).
        t: index of the next component (>= 1).
        beta: mixture weight rule of the next component.
        max_iter: boosting iterations of the MIXDISC classifier.
        seed: seed of generation and classifier.
        max_examples: use at most this many training examples (0 = all); examples beyond it
            keep weight 1/N of the rest (they are not in the artifact and get NaN -> error
            if used), so leave 0 for real runs.
        max_fit: MIXDISC is fitted on at most this many showers of each class (a random
            subsample); D is still predicted for every training example.

    Returns:
        properties: t, beta, lambda_star, mixdisc_auc, effective sample fraction.
    """
    from tfcalo.data.dataset import Dataset, write_weights
    from tfcalo.export.sampling import load_sampler
    from tfcalo.training import adagan

    ds = Dataset.open(examples)
    det = ds.detector
    sampler = load_sampler(ensemble_dir)
    # Stream the split: only the per-shower features (tens of numbers) are kept, never the
    # showers, so memory does not grow with the shower size.
    index, real_f, fake_f = [], [], []
    n = 0
    for k, batch in enumerate(ds.iter_batches("train", STREAM_BATCH)):
        if max_examples and n >= max_examples:
            break
        take = len(batch["index"]) if not max_examples else min(len(batch["index"]), max_examples - n)
        showers, conditions = batch["showers"][:take], batch["conditions"][:take]
        chunk_seed = int(np.random.SeedSequence([seed, k]).generate_state(1)[0] & 0x7FFFFFFF)
        fake = sampler.sample(conditions, seed=chunk_seed)
        index.append(batch["index"][:take])
        real_f.append(adagan.mixdisc_features(det, showers, conditions))
        fake_f.append(adagan.mixdisc_features(det, fake, conditions))
        n += take
    if not index:
        raise ArtifactError(f"dataset {examples} has no training examples to weight")
    index = np.concatenate(index)
    log(f"MIXDISC: {n} real training showers vs as many from the ensemble of t={t}")
    d, auc = adagan.mixdisc_probabilities(np.concatenate(real_f), np.concatenate(fake_f),
                                            seed=seed, max_iter=max_iter, max_fit=max_fit)
    b = adagan.next_beta(t, beta)
    w, lam = adagan.boosting_weights(d, b)
    n = len(w)
    ess = float(w.sum() ** 2 / np.sum(w**2)) / n
    # Store weights with mean 1 (the weighted loss is sum(w l)/sum(w): scale-free).
    write_weights(out_dir, index, w * n,
                  {"kind": "adagan-boosting", "t": t, "beta": b, "lambda_star": lam,
                   "mixdisc_auc": auc, "dataset": ds.content_hash})
    log(f"MIXDISC AUC {auc:.3f}; beta {b:.3f}; lambda* {lam:.6g}; effective fraction {ess:.3f}")
    return {"t": t, "beta": b, "lambda_star": lam, "mixdisc_auc": auc,
            "effective_fraction": ess, "n": n}


def _execute(inputs: dict[str, Artifact], outputs: dict[str, Path], params: dict) -> dict:
    props = compute_boost_weights(
        inputs["examples"].uri, inputs["ensemble"].uri, outputs["weights"], t=int(params["t"]),
        beta=params["beta"], max_iter=int(params["max_iter"]), seed=int(params["seed"]),
        max_examples=int(params["max_examples"]), max_fit=int(params["max_fit"]))
    return {"weights": props}


COMPONENT = Component(
    name="boost-weight",
    version=VERSION,
    inputs={"examples": "Examples", "ensemble": "Model"},
    outputs={"weights": "Weights"},
    parameters={"t": 1, "beta": "1/(t+1)", "max_iter": 100, "seed": 0, "max_examples": 0,
                "max_fit": 50_000},
    executor=_execute,
)

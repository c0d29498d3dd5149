"""How a cern-ecal generator represents the 25x25x25 volume, compared on one budget (issue 13).

Each row is ONE member (ensemble.members = 1) of the ensemble pipeline's g4 preset
(../shared/data/g4_cern_ecal_train.h5, trained on its train split, judged by the evaluate
component on its test split) with a few keys overridden and the same number of epochs:

- ``shape-prior``: the preset: a softmax shape over the cells times one generated deposit
  per shower (energy factorised around the data's response curve), the softmax logits
  starting at the product of the data's mean x, y and layer profiles;
- ``shape-prior-resize``: the preset with the generator's branches upsampling by
  nearest-neighbour resize + convolution instead of transposed convolutions (no
  checkerboard overlap);
- ``smooth-layers``: the preset with ``generator.layer_model = "smooth"``: the fraction per
  layer is the prior's layer profile times exp(a per-shower Legendre polynomial of the
  depth), the branches shape each layer transversally only;
- ``smooth-layers-resize``: both changes;
- ``smooth-profile-heavy``: ``smooth-layers`` with the profile critic's loss weighted 4x the
  image critic's (``objective.profile_weight = 24``);
- ``smooth-energy-prior``: ``smooth-layers`` with ``shape_prior = "energy_profiles"`` (the
  prior's layer profile is the data's at each shower's energy);
- ``smooth-moments``, ``smooth-moments-heavy``: ``smooth-layers`` with the generator's
  moment-matching loss (``objective.moment_weight`` 100 and 1,000: the mean x, y and layer
  profiles and the standardised deposit's first two moments, as quadratic functions of
  log E, against the real batch's; tfcalo.models.moments);
  (these two rows were measured while the features held the x and y profiles too; at HEAD
  they match the layer profile and the deposit only);
- ``smooth-moments-layers``: moment weight 1,000 on the layer profile and the deposit only;
- ``smooth-energy-prior-moments``: ``smooth-energy-prior`` with moment weight 100;
- ``shape-uniform``: the same without the profile prior (logits start near 0: a uniform
  volume);
- ``cells-log``: the published 2DGAN's way: the generator makes every cell's energy, in
  log1p(E / scale) space; the critic sees the image only (plus its Ep and total-energy heads,
  the total-energy loss at the published weight 0.1);
  the rest of the preset (profile features and critic, moment matching of the layer profile
  and widths, model selection) is kept, so the row differs in the representation alone;
- ``cells-power``: the same in the published power scaling (E / scale) ** 0.5.

All rows share one pipeline root, so the ingest is computed once.

    python bench/bench_cern_representations.py --epochs 2 --root /tmp/cern-repr [--rows a,b]

Prints one JSON document (per row: the command, wall time and the test-split metrics) and a
markdown table (stderr).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_rows import bench_main, fmt, run_pipeline  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "g4_cern_ecal_train.h5"
M = "train.model_config"
G, D = f"{M}.generator", f"{M}.discriminator"
CELLS = [f"{G}.output=\"cells\"", f"{G}.shape_prior=\"none\"", f"{G}.layer_model=\"free\"",
         f"{D}.energy_input=false",
         f"{D}.energy_critic=false", f"{D}.shape_only=false", f"{M}.objective.etot_weight=0.1"]
ROWS = {
    "shape-prior": [],
    "shape-prior-resize": [f"{G}.upsampling=\"resize\""],
    "smooth-layers": [f"{G}.layer_model=\"smooth\""],
    "smooth-layers-resize": [f"{G}.layer_model=\"smooth\"", f"{G}.upsampling=\"resize\""],
    "smooth-profile-heavy": [f"{G}.layer_model=\"smooth\"", f"{M}.objective.profile_weight=24.0"],
    "smooth-energy-prior": [f"{G}.layer_model=\"smooth\"",
                            f"{G}.shape_prior=\"energy_profiles\""],
    "smooth-moments": [f"{G}.layer_model=\"smooth\"", f"{M}.objective.moment_weight=100.0"],
    "smooth-moments-heavy": [f"{G}.layer_model=\"smooth\"",
                             f"{M}.objective.moment_weight=1000.0"],
    "smooth-moments-layers": [f"{G}.layer_model=\"smooth\"",
                              f"{M}.objective.moment_weight=1000.0"],
    "smooth-energy-prior-moments": [f"{G}.layer_model=\"smooth\"",
                                    f"{G}.shape_prior=\"energy_profiles\"",
                                    f"{M}.objective.moment_weight=100.0"],
    "shape-uniform": [f"{G}.shape_prior=\"none\""],
    "cells-log": CELLS,
    "cells-power": [*CELLS, f"{M}.transform.mode=\"power\""],
}
#: Observables whose means issue 13 wants within 5 % of Geant4's.
SHAPE_OBSERVABLES = ("width_x", "width_y", "width_z", "cog_z")


def row_metrics(metrics: dict) -> dict:
    """The comparison table's columns from an evaluation's metrics.json."""
    obs = metrics.get("observables") or {}
    return {
        "prd_auc_raw": metrics.get("prd_auc_raw"),
        "prd_auc_observables": metrics.get("prd_auc_observables"),
        "prd_auc": metrics.get("prd_auc"),
        "classifier_auc": metrics.get("classifier_auc_observables"),
        "sf_worst_bin": metrics.get("sf_ratio_max_deviation"),
        "resolution_worst_bin": metrics.get("resolution_ratio_max_deviation"),
        "longitudinal_profile": metrics.get("longitudinal_profile_max_deviation"),
        "radial_profile": metrics.get("radial_profile_max_deviation"),
        "shape_mean_rel_dev": {k: obs[k]["gen_mean"] / obs[k]["real_mean"] - 1
                               for k in SHAPE_OBSERVABLES if k in obs},
    }


def run_row(name: str, epochs: int, root: str, data: str) -> dict:
    cmd = ["tfcalo", "pipeline", "run", "ensemble", "--preset", "g4", "--data", data,
           "--root", root, "--set", "ensemble.members=1", "--set", f"train.epochs={epochs}"]
    for s in ROWS[name]:
        cmd += ["--set", s]
    row = run_pipeline(name, cmd)
    if "error" not in row:
        row.update(row_metrics(row.pop("metrics")))
    return row


def cells(r: dict) -> list[str]:
    out = [fmt(r[k]) for k in ("prd_auc_raw", "prd_auc_observables", "prd_auc", "classifier_auc",
                               "sf_worst_bin", "resolution_worst_bin", "longitudinal_profile",
                               "radial_profile")]
    return out + [f"{r['shape_mean_rel_dev'][k]:+.1%}" if k in r["shape_mean_rel_dev"] else "-"
                  for k in SHAPE_OBSERVABLES]


if __name__ == "__main__":
    bench_main("cern-representations", __doc__, ROWS, run_row, 2, "/tmp/cern-repr", str(DATA),
               ("PRD raw", "PRD obs", "PRD min", "clf AUC", "SF worst", "res worst",
                "long. profile", "radial profile", *(f"{k} mean" for k in SHAPE_OBSERVABLES)),
               cells)

"""Detector specifications: shower shape, conditions and units of each data domain.

Three domains come from the source documents:

- ``lhcb-ecal``: LHCb-like shashlik ECAL, 30x30 cells of 2 cm summed over depth, energies in
  MeV, image indexed [row = y, column = x]; conditions are the entry point (x, y, z) in cm and
  the momentum (px, py, pz) in GeV.
- ``cern-ecal``: CLIC-like Si-W ECAL, 25x25x25 cells indexed [x, y, layer], energies in GeV;
  the condition is the primary energy Ep in GeV (2-500).
- ``rich-pid``: LHCb RICH particle identification, five DLL values per track; conditions
  are momentum p (GeV), pseudorapidity eta and the track multiplicity nTracks.

Canonical arrays everywhere in tfcalo: showers float32 of shape ``(N, *shower_shape)`` in
``energy_unit``; conditions float32 ``(N, len(condition_names))`` in ``condition_units``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfcalo.errors import unknown_name


@dataclass(frozen=True)
class Detector:
    """One detector's data contract.

    Attributes:
        name: spec name used on the command line (``lhcb-ecal``...).
        kind: ``"image2d"``, ``"volume3d"`` or ``"tabular"``.
        shower_shape: shape of one shower (without the batch axis).
        shower_names: names of the shower's components for tabular data (DLLs), else ().
        energy_unit: unit of the shower values ("MeV", "GeV", or "" for DLLs).
        condition_names: names of the condition columns, in canonical order.
        condition_units: unit of each condition column.
        condition_ranges: (low, high) of each condition that the detector's models are valid
            for; values outside only warn.
        cell_size_cm: transverse cell pitch in cm (0 for tabular).
        layer_axis: index of the depth axis in ``shower_shape`` (None if depth-summed).
        nonnegative: whether shower values are energies that cannot be negative.
    """

    name: str
    kind: str
    shower_shape: tuple[int, ...]
    shower_names: tuple[str, ...]
    energy_unit: str
    condition_names: tuple[str, ...]
    condition_units: tuple[str, ...]
    condition_ranges: tuple[tuple[float, float], ...]
    cell_size_cm: float
    layer_axis: int | None
    nonnegative: bool
    description: str

    @property
    def n_conditions(self) -> int:
        return len(self.condition_names)

    @property
    def shower_size(self) -> int:
        size = 1
        for d in self.shower_shape:
            size *= d
        return size

    def to_dict(self) -> dict:
        """JSON-ready description (used in schema.json and model cards)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "shower_shape": list(self.shower_shape),
            "shower_names": list(self.shower_names),
            "energy_unit": self.energy_unit,
            "condition_names": list(self.condition_names),
            "condition_units": list(self.condition_units),
            "condition_ranges": [list(r) for r in self.condition_ranges],
            "cell_size_cm": self.cell_size_cm,
        }


LHCB_ECAL = Detector(
    name="lhcb-ecal",
    kind="image2d",
    shower_shape=(30, 30),
    shower_names=(),
    energy_unit="MeV",
    condition_names=("x", "y", "z", "px", "py", "pz"),
    condition_units=("cm", "cm", "cm", "GeV", "GeV", "GeV"),
    condition_ranges=((-30.0, 30.0), (-30.0, 30.0), (-50.0, 50.0),
                      (-60.0, 60.0), (-50.0, 50.0), (0.0, 200.0)),
    cell_size_cm=2.0,
    layer_axis=None,
    nonnegative=True,
    description="LHCb-like shashlik ECAL, 30x30 cells of 2 cm, depth-summed, MeV",
)

CERN_ECAL = Detector(
    name="cern-ecal",
    kind="volume3d",
    shower_shape=(25, 25, 25),
    shower_names=(),
    energy_unit="GeV",
    condition_names=("Ep",),
    condition_units=("GeV",),
    condition_ranges=((2.0, 500.0),),
    cell_size_cm=0.51,
    layer_axis=2,
    nonnegative=True,
    description="CLIC-like Si-W ECAL, 25x25x25 cells (x, y, layer) of 5.1 mm, GeV",
)

RICH_PID = Detector(
    name="rich-pid",
    kind="tabular",
    shower_shape=(5,),
    shower_names=("RichDLLe", "RichDLLmu", "RichDLLk", "RichDLLp", "RichDLLbt"),
    energy_unit="",
    condition_names=("p", "eta", "nTracks"),
    condition_units=("GeV", "", ""),
    condition_ranges=((1.0, 200.0), (1.5, 5.5), (0.0, 1000.0)),
    cell_size_cm=0.0,
    layer_axis=None,
    nonnegative=False,
    description="LHCb RICH PID: five DLL responses given p, eta, nTracks",
)

DETECTORS: dict[str, Detector] = {d.name: d for d in (LHCB_ECAL, CERN_ECAL, RICH_PID)}


def get_detector(name: str | Detector) -> Detector:
    """Return the spec called ``name``; an unknown name raises UnknownNameError with a hint."""
    if isinstance(name, Detector):
        return name
    try:
        return DETECTORS[name]
    except KeyError:
        raise unknown_name("detector", name, DETECTORS) from None

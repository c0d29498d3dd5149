"""The layering rules of DESIGN.md ("Layout"), checked by reading the imports (ast).

Layers, lowest first (an import never points up this list; within a layer anything goes):

0. core: detectors, physics, metrics/ and the small shared utilities (errors, config,
   atomic, native_log; the package ``tfcalo`` itself)
1. data/      2. models/      3. training/      4. export/ (with pretrained/)
5. evaluation/      6. engine/      7. components (tfcalo.components)
8. pipelines (tfcalo.pipelines)      9. cli

Besides: the CLI takes library work from the library, never from a component (it may run
pipelines); only tfcalo/cli.py imports click or calls print; at most 8 modules sit directly
in tfcalo/ (the rest lives in wings). Every import counts, also one inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Source folder -> the package it is installed as (setup.cfg package_dir).
ROOTS = {"tfcalo": "tfcalo", "components": "tfcalo.components", "pipelines": "tfcalo.pipelines"}
CORE = ("tfcalo", "tfcalo.errors", "tfcalo.config", "tfcalo.atomic", "tfcalo.native_log",
        "tfcalo.detectors", "tfcalo.physics", "tfcalo.metrics")
LAYERS: list[tuple[str, ...]] = [
    CORE,
    ("tfcalo.data",),
    ("tfcalo.models",),
    ("tfcalo.training",),
    ("tfcalo.export", "tfcalo.pretrained"),
    ("tfcalo.evaluation",),
    ("tfcalo.engine",),
    ("tfcalo.components",),
    ("tfcalo.pipelines",),
    ("tfcalo.cli",),
]
MAX_FLAT_MODULES = 8


def _module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every .py under tfcalo/, components/, pipelines/."""
    out = {}
    for folder, package in ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if folder == "tfcalo" and name.startswith(("tfcalo.components", "tfcalo.pipelines")):
                continue  # not a place for them; would shadow the mapped packages
            out[name] = path
    return out


MODULES = _module_files()


def layer(module: str) -> int | None:
    """Index in LAYERS of the longest prefix naming ``module`` (None: not tfcalo's)."""
    best, index = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), i
    return index


def imported(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, at any depth of the file (functions included).

    ``from X import a`` counts as an import of ``X.a`` when that is a module, else of ``X``.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                out.add(sub if sub in MODULES else module)
    return out


def print_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name) and n.func.id == "print"]


def upward_imports(modules: dict[str, Path] = MODULES) -> list[str]:
    broken = []
    for name, path in modules.items():
        own = layer(name)
        assert own is not None, f"{name} ({path}) is in no layer of tests/test_layering.py"
        for target in sorted(imported(name, path)):
            other = layer(target)
            if other is not None and other > own:
                broken.append(f"{name} (layer {own}) imports {target} (layer {other})")
    return broken


def test_every_module_is_in_a_layer():
    assert "tfcalo.cli" in MODULES and "tfcalo.components.train" in MODULES
    assert [n for n in MODULES if layer(n) is None] == []


def test_no_import_points_up():
    assert upward_imports() == []


def test_networks_never_import_training():
    bad = [f"{n} -> {t}" for n, p in MODULES.items() if n.startswith("tfcalo.models")
           for t in imported(n, p) if t == "tfcalo.training" or t.startswith("tfcalo.training.")]
    assert bad == []


def test_the_cli_takes_library_work_from_the_library():
    bad = [t for t in imported("tfcalo.cli", MODULES["tfcalo.cli"])
           if t == "tfcalo.components" or t.startswith("tfcalo.components.")]
    assert bad == [], "tfcalo/cli.py imports a component; call the library instead"


def test_only_the_cli_talks_to_the_terminal():
    clicks = [n for n, p in MODULES.items() if n != "tfcalo.cli"
              and any(t == "click" or t.startswith("click.") for t in imported(n, p))]
    prints = {n: print_calls(p) for n, p in MODULES.items() if n != "tfcalo.cli"}
    assert clicks == [], "only tfcalo/cli.py may import click"
    assert {n: lines for n, lines in prints.items() if lines} == {}, "use logging, not print"


def test_the_library_is_organised_in_wings():
    flat = sorted(p.name for p in (REPO / "tfcalo").glob("*.py") if p.name != "__init__.py")
    assert len(flat) <= MAX_FLAT_MODULES, flat


def test_the_checker_sees_an_upward_import(tmp_path):
    """The check itself: a model importing training, a core module importing data, the
    engine importing a component, all from inside functions, are reported."""
    cases = {
        "tfcalo.models.fake": "def f():\n    from tfcalo.training.gan import ConditionalGAN\n",
        "tfcalo.physics_fake": "def f():\n    from tfcalo import data\n",
        "tfcalo.engine.fake": "def f():\n    from ..components import train\n",
    }
    files = {}
    for name, text in cases.items():
        files[name] = tmp_path / f"{name.replace('.', '_')}.py"
        files[name].write_text(text)
    broken = upward_imports(files)
    assert len(broken) == 3, broken
    assert "tfcalo.models.fake (layer 2) imports tfcalo.training.gan (layer 3)" in broken


@pytest.mark.parametrize("module,expected", [
    ("tfcalo.metrics.prd", 0), ("tfcalo.data.formats", 1), ("tfcalo.export.sampling", 4),
    ("tfcalo.engine.runner", 6), ("tfcalo.pipelines", 8), ("tfcalo.cli", 9),
    ("numpy", None), ("tfcalo_other", None),
])
def test_layer_of(module, expected):
    assert layer(module) == expected

"""Package hygiene: light imports, a working entry point, the registries point at real objects."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _modules_after(import_stmt: str) -> set[str]:
    code = f"import sys; {import_stmt}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("stmt", ["import cotforge", "import cotforge.cli", "import cotforge.verifiers",
                                  "import cotforge.store.dataset"])
def test_light_imports_do_not_pull_torch_or_vllm(stmt):
    loaded = _modules_after(stmt)
    assert "torch" not in loaded and "vllm" not in loaded and "transformers" not in loaded


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "cotforge.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("cotforge ")


def test_unknown_command_exits_2():
    out = subprocess.run([sys.executable, "-m", "cotforge.cli", "no-such-command"], capture_output=True, text=True)
    assert out.returncode == 2


def test_verifier_registry_entries_resolve():
    from cotforge.verifiers import REGISTRY, load_verifier_class

    for name in REGISTRY:
        cls = load_verifier_class(name)
        assert callable(cls), name


def test_missing_extra_names_the_pip_command():
    from cotforge.errors import MissingExtraError, require

    with pytest.raises(MissingExtraError, match=r"pip install 'cotforge\[vllm\]'"):
        require("cotforge_no_such_module", "vllm", "offline generation")


# docs/architecture.md's dependency direction: a package imports only what lies below it.
_MUST_NOT_IMPORT = {
    "verifiers": ("cotforge.datagen", "cotforge.store", "cotforge.evals", "cotforge.trainers", "cotforge.hub"),
    "store": ("cotforge.datagen", "cotforge.verifiers", "cotforge.evals", "cotforge.trainers", "cotforge.hub"),
    "hub": ("cotforge.datagen", "cotforge.evals", "cotforge.trainers", "cotforge.verifiers"),
    "datagen": ("cotforge.evals", "cotforge.trainers"),
}


@pytest.mark.parametrize("package", sorted(_MUST_NOT_IMPORT))
def test_no_import_runs_back_up_the_dependency_direction(package):
    import ast
    from pathlib import Path

    import cotforge

    root = Path(cotforge.__file__).parent
    found = []
    for path in sorted((root / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found += [f"{path.relative_to(root)}: {n}" for n in names if n.startswith(_MUST_NOT_IMPORT[package])]
    assert not found, found

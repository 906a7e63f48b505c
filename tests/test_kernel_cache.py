"""numba's cache of a kernel is renewed when a module it compiles code from changes (eventstudy/kernel_cache.py)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from eventstudy import kernel_cache

ROOT = Path(__file__).resolve().parents[1]
HELPER = """import numba

import eventstudy.kernel_cache  # noqa: F401

OFFSET = {offset}


@numba.njit(cache=True)
def helper(x):
    return x + {step}
"""
KERNEL = """import numba

import eventstudy.kernel_cache  # noqa: F401
from eventstudy.probe_helper import OFFSET, helper


@numba.njit(cache=True)
def kernel(x):
    return helper(x) * 2.0 + OFFSET
"""


def _package(tmp_path: Path, helper: str) -> Path:
    package = tmp_path / "eventstudy"
    package.mkdir(exist_ok=True)
    for name in ("__init__.py", "kernel_cache.py"):
        shutil.copy(ROOT / "eventstudy" / name, package / name)
    (package / "probe_helper.py").write_text(helper)
    (package / "probe_kernel.py").write_text(KERNEL)
    return package


def _kernel_of_one(tmp_path: Path) -> str:
    code = "import eventstudy; from eventstudy.probe_kernel import kernel; print(eventstudy.__file__, kernel(1.0))"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NUMBA_DISABLE_JIT": "0"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    where, value = out.stdout.split()
    assert Path(where).parent == tmp_path / "eventstudy"  # the copy, not the installed package
    return value


def test_a_cached_kernel_is_compiled_afresh_when_a_helper_or_constant_of_another_module_changes(tmp_path):
    package = _package(tmp_path, HELPER.format(offset=0.0, step=1.0))
    assert _kernel_of_one(tmp_path) == "4.0"
    assert list((package / "__pycache__").glob("probe_kernel.kernel-*.nbi"))  # cached
    assert _kernel_of_one(tmp_path) == "4.0"  # from the cache
    (package / "probe_helper.py").write_text(HELPER.format(offset=0.0, step=2.0))  # the kernel's file unchanged
    assert _kernel_of_one(tmp_path) == "6.0"  # numba's own stamp alone gives the cached 4.0
    (package / "probe_helper.py").write_text(HELPER.format(offset=10.0, step=2.0))  # a constant it compiles in
    assert _kernel_of_one(tmp_path) == "16.0"


def test_dependencies_are_the_imported_modules_and_what_compiling_ones_import():
    deps = {
        p.relative_to(kernel_cache.PACKAGE).as_posix()
        for p in kernel_cache.dependencies(ROOT / "eventstudy/inference/moments.py")
    }
    assert {"inference/ar_rows.py", "inference/groups.py", "inference/distributions.py", "kernel_cache.py"} <= deps
    assert "inference/moments.py" not in deps
    # rank_sums imports ranking (which compiles code and imports ar_rows): both reach the cache's stamp
    deps = {
        p.relative_to(kernel_cache.PACKAGE).as_posix()
        for p in kernel_cache.dependencies(ROOT / "eventstudy/engine/rank_sums.py")
    }
    assert {"engine/ranking.py", "inference/ar_rows.py"} <= deps


def test_every_module_with_cached_kernels_imports_the_locator_before_them():
    for path in sorted((ROOT / "eventstudy").rglob("*.py")):
        text = path.read_text()
        if "cache=True" not in text or path.name == "kernel_cache.py":
            continue
        assert "import eventstudy.kernel_cache" in text, path
        assert text.index("import eventstudy.kernel_cache") < text.index("cache=True"), path

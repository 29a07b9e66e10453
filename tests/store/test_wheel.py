"""The migrations ship inside the wheel and work from an installed convo."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = textwrap.dedent(
    """
    import importlib
    import json
    import sys
    from pathlib import Path

    expected = json.loads(sys.argv[2])
    for name, path in expected.items():
        found = importlib.import_module(name).__file__
        assert found == path, f"{name}: {found} is not the running interpreter's {path}"

    import convo
    from convo import Conversation
    from convo.store import Store, current_revision, head_revision
    from convo.store.migrate import migrations_dir

    prefix = Path(sys.prefix).resolve()
    assert Path(convo.__file__).resolve().is_relative_to(prefix), convo.__file__
    found = migrations_dir().resolve()
    assert found == Path(convo.__file__).resolve().parent / "_migrations", found
    url = "sqlite:///" + sys.argv[1]
    assert current_revision(url) is None
    with Store(url) as store:
        store.save("t", Conversation("s").user("hi"))
        assert store.load("t") == Conversation("s").user("hi")
    assert current_revision(url) == head_revision()
    print("ok", found)
    """
)


# The dependencies the installed wheel imports; the child must find each one
# exactly where the interpreter running this test finds it.
DEPENDENCIES = ("attrs", "cattrs", "sqlalchemy", "alembic", "httpx", "orjson", "click", "rich")


def _site_dirs() -> list[str]:
    """The directories the running interpreter imports installed packages from.

    In a virtualenv these are the venv's, not the base interpreter's, which is
    why the child cannot use `system_site_packages=True` (it would see the
    base interpreter's packages).
    """
    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    dirs += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return list(dict.fromkeys(d for d in dirs if Path(d).is_dir()))


def child_venv(env_dir: Path) -> Path:
    """A fresh venv that imports the running interpreter's packages, after its own.

    The directories go in a `.pth` file as plain paths (not `site.addsitedir`),
    so the `.pth` files in them, among them an editable install of convo, are
    not processed: the only convo the child can import is the one installed
    into it.
    """
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "_running_interpreter.pth").write_text("\n".join(_site_dirs()) + "\n")
    return python


def _dependency_files() -> dict[str, str]:
    import importlib

    return {name: str(importlib.import_module(name).__file__) for name in DEPENDENCIES}


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_wheel_ships_migrations_and_migrates_from_an_install(tmp_path):
    """Build the wheel, install it alone in a fresh venv (no network), and
    create a database with the migrations it carries."""
    dist = tmp_path / "dist"
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, ROOT, cwd=tmp_path)
    if built.returncode != 0 and "hatchling" in built.stdout + built.stderr:
        pytest.skip(f"cannot build a wheel here (no hatchling): {built.stderr[-300:]}")
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = dist.glob("convo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "convo/_migrations/env.py" in names
    assert "convo/_migrations/versions/0001_initial.py" in names
    assert "convo/py.typed" in names
    assert not any(name.startswith("migrations/") for name in names)

    env_dir = tmp_path / "venv"
    python = child_venv(env_dir)
    installed = _run(
        python,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-index",
        "--force-reinstall",
        wheel,
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    script = tmp_path / "check.py"
    script.write_text(CHECK)
    checked = _run(
        python, script, tmp_path / "fresh.db", json.dumps(_dependency_files()), cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("ok ")
    assert str(env_dir.resolve()) in checked.stdout


def test_child_venv_imports_the_running_interpreters_packages(tmp_path):
    """The child venv finds every dependency where this interpreter finds it,
    and cannot import a convo until one is installed into it.

    Guards the virtualenv case: with `system_site_packages=True` a child of a
    venv sees the base interpreter's packages, so this fails there."""
    python = child_venv(tmp_path / "venv")
    probe = textwrap.dedent(
        """
        import importlib, importlib.util, json, sys
        print(json.dumps({
            "deps": {n: importlib.import_module(n).__file__ for n in json.loads(sys.argv[1])},
            # an editable install leaves a bare convo/_migrations beside it:
            # a namespace package at most, never an importable convo
            "convo": getattr(importlib.util.find_spec("convo"), "origin", None),
        }))
        """
    )
    result = _run(python, "-c", probe, json.dumps(DEPENDENCIES), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["deps"] == _dependency_files()
    assert seen["convo"] is None

"""The migrations ship inside the wheel and work from an installed convo."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = textwrap.dedent(
    """
    import sys
    from pathlib import Path

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
    assert current_revision(url) == head_revision() == "0002"
    print("ok", found)
    """
)


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
    assert not any(name.startswith("migrations/") for name in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
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
    checked = _run(python, script, tmp_path / "fresh.db", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("ok ")
    assert str(env_dir.resolve()) in checked.stdout

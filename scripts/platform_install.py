"""Install the bot the way a buildpack does and weigh the result.

    python scripts/platform_install.py [--keep DIR]

What a Procfile platform does with a `git push`: take the tracked files, make a fresh virtual
environment, `pip install -r requirements.txt` (no Makefile, no editable install), and pack the
installed packages with the app into a gzipped tarball (the "slug"). This script does the same
in a scratch folder and prints the installed size and the compressed size, the numbers quoted
in docs/deploy.md. tests/test_deploy.py uses these functions and then starts the Procfile's
`web:` line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Where download.pytorch.org cannot be reached (these machines find the CPU torch wheel on
# their own disk), pip would retry that index five times, with back-off, for every package
# it looks up. One try each, and a short timeout when the network drops packets instead of
# refusing them, keep the install from waiting on it; pip then takes each package from the
# sources it can reach.
PIP_ENV = {"PIP_RETRIES": "0", "PIP_DEFAULT_TIMEOUT": "15", "PIP_NO_INPUT": "1"}


def stage_app(dest: Path, root: Path = ROOT) -> Path:
    """Copy the tracked files, as `git push` would send them, to dest."""
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = root / name
        if source.is_file():  # a file deleted in the work tree but not yet committed
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def make_venv(dest: Path) -> Path:
    """A fresh virtual environment on this interpreter's base Python; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(dest)], check=True)
    return dest / "bin" / "python"


def pip_install(python: Path, requirements: Path) -> float:
    """`pip install -r requirements` into python's environment; returns the seconds taken."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PIP_ENV)
    started = time.monotonic()
    result = subprocess.run([str(python), "-m", "pip", "install", "-qq", "-r", str(requirements)],
                            env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"pip install -r {requirements.name} failed:\n{result.stderr[-4000:]}")
    return time.monotonic() - started


def site_packages(python: Path) -> Path:
    return Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip())


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def weigh(python: Path, app: Path, scratch: Path) -> dict[str, int]:
    """Installed bytes, and the gzipped tarball of packages and app a slug would be."""
    packages = site_packages(python)
    slug = scratch / "slug.tar.gz"
    subprocess.run(["tar", "-czf", str(slug), "-C", str(packages.parent), packages.name,
                    "-C", str(app.parent), app.name], check=True)
    return {"packages": tree_bytes(packages), "app": tree_bytes(app),
            "slug_gz": slug.stat().st_size}


def procfile_command(app: Path, process: str = "web") -> str:
    for line in (app / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process:
            return command.strip()
    raise LookupError(f"no {process}: line in the Procfile")


def mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build in DIR and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="deploy-"))
    try:
        app = stage_app(scratch / "app")
        python = make_venv(scratch / "venv")
        seconds = pip_install(python, app / "requirements.txt")
        sizes = weigh(python, app, scratch)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"pip install -r requirements.txt: {seconds:.0f} s")
    print(f"installed packages: {mb(sizes['packages'])}, app files: {mb(sizes['app'])}")
    print(f"slug (tar.gz of both): {mb(sizes['slug_gz'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

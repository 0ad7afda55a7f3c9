"""Write requirements.txt from pyproject.toml, or check that it is still in sync.

    python scripts/compile_requirements.py           # resolve and rewrite requirements.txt
    python scripts/compile_requirements.py --check   # offline: exit 1 when it is stale

Buildpacks (Heroku, Railway, Render, Dokku) and the Dockerfile install requirements.txt, never
pyproject.toml, so this file is what a deploy gets. It pins every package, direct or not, as
pip's own resolver chose it (`pip install --dry-run --report`): the installer a buildpack runs
is the one that resolved the file. torch is pinned to the CPU build of the PyTorch CPU index,
because a plain `torch` from PyPI is the multi-GB CUDA build.

The resolution is for the interpreter running this script (CPython 3.11 on Linux, like the
platforms and the image). `--check` does not resolve again, so it needs no network and does
not drift when PyPI publishes a release: it checks that the file was generated from the
current dependency list (a digest in its header) and that every direct dependency is pinned to
a version its specifier in pyproject.toml admits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
TORCH_PIN = "torch==2.13.0+cpu"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
DIGEST_LABEL = "# pyproject-dependencies-sha256: "
# The installer's own tools (sqlite-utils asks for pip): the platform's build brings its own,
# and pinning them here would have `pip install -r` replace the pip that is running it.
INSTALLER_TOOLS = {"pip", "setuptools"}
HEADER = """\
# Generated from pyproject.toml by `python scripts/compile_requirements.py`: do not edit.
# What a buildpack and the Dockerfile install. Resolved for CPython 3.11 on Linux; torch is
# the CPU build from the PyTorch CPU index (PyPI's torch is the multi-GB CUDA build).
"""


def dependencies(pyproject: Path) -> list[str]:
    return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]


def digest(deps: list[str]) -> str:
    # The torch pin and its index are inputs too: changing either must regenerate the file.
    text = "\n".join(sorted(deps) + [TORCH_PIN, TORCH_INDEX])
    return hashlib.sha256(text.encode()).hexdigest()


def resolve(deps: list[str]) -> dict[str, str]:
    """Ask pip which distributions it would install for `deps`: {name: version}."""
    with tempfile.TemporaryDirectory(prefix="compile-req-") as tmp:
        constraints = Path(tmp, "torch.txt")
        constraints.write_text(TORCH_PIN + "\n")
        report = Path(tmp, "report.json")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
             "-qq", "--report", str(report), "--extra-index-url", TORCH_INDEX,
             "--constraint", str(constraints), *deps],
            check=True,
            # Where the PyTorch index cannot be reached, pip would retry it for every package
            # name before trying its other sources; one failed try is enough.
            env={**os.environ, "PIP_RETRIES": os.environ.get("PIP_RETRIES", "0")},
        )
        installs = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in installs
            if canonicalize_name(item["metadata"]["name"]) not in INSTALLER_TOOLS}


def render(deps: list[str], pins: dict[str, str]) -> str:
    direct = {canonicalize_name(Requirement(d).name) for d in deps}
    lines = [HEADER + DIGEST_LABEL + digest(deps), f"--extra-index-url {TORCH_INDEX}", ""]
    for title, wanted in (("# From pyproject.toml's dependencies", True),
                          ("# What they depend on", False)):
        lines.append(title)
        lines += [f"{name}=={version}"
                  for name, version in sorted(pins.items(), key=lambda p: p[0].lower())
                  if (canonicalize_name(name) in direct) == wanted]
        lines.append("")
    return "\n".join(lines)


def read_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def problems(pyproject: Path, requirements: Path) -> list[str]:
    """Why requirements.txt no longer matches pyproject.toml; empty when it does."""
    if not requirements.exists():
        return [f"{requirements.name} is missing"]
    deps = dependencies(pyproject)
    text = requirements.read_text(encoding="utf-8")
    found = []
    if f"{DIGEST_LABEL}{digest(deps)}" not in text:
        found.append("pyproject.toml's dependencies changed since requirements.txt was written")
    if f"--extra-index-url {TORCH_INDEX}" not in text.splitlines():
        found.append(f"the PyTorch CPU index ({TORCH_INDEX}) is not listed")
    pins = read_pins(text)
    for dep in map(Requirement, deps):
        version = pins.get(canonicalize_name(dep.name))
        if version is None:
            found.append(f"{dep.name} is not pinned")
        elif not dep.specifier.contains(version, prereleases=True):
            found.append(f"{dep.name}=={version} does not satisfy {dep}")
    if "torch==" + pins.get("torch", "") != TORCH_PIN:
        found.append(f"torch is not pinned to the CPU build {TORCH_PIN}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when requirements.txt is out of sync (no network)")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--output", type=Path, default=ROOT / "requirements.txt")
    args = parser.parse_args(argv)
    if args.check:
        found = problems(args.pyproject, args.output)
        for problem in found:
            print(f"{args.output.name}: {problem}", file=sys.stderr)
        if found:
            print("run: python scripts/compile_requirements.py", file=sys.stderr)
        return 1 if found else 0
    deps = dependencies(args.pyproject)
    args.output.write_text(render(deps, resolve(deps)), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The package installs anywhere: a wheel carries the question bank and runs outside the
checkout. The wheel is built offline with this venv's setuptools, and the fresh venv borrows
this venv's site-packages for the dependencies, so torch is never installed again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from bot.core.corpus import default_corpus_dir, load_corpus

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_CORPUS = ROOT / "tests" / "fixtures" / "corpus"


def test_every_package_under_bot_is_listed_for_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts)
             for init in ROOT.glob("bot/**/__init__.py")}
    assert found <= listed
    assert listed - found == {"bot.corpus"}  # the bank: corpus/, mapped by package-dir


def test_the_checkout_reads_the_top_level_corpus_folder():
    # An editable install (and the source tree) has no bot/corpus/: it reads corpus/ itself.
    assert default_corpus_dir() == ROOT / "corpus"


def run(args, cwd, env=None, input_text=None, timeout=180):
    return subprocess.run(args, cwd=cwd, env=env, input=input_text, capture_output=True,
                          text=True, timeout=timeout)


def test_a_wheel_ships_the_bank_and_runs_outside_the_checkout(tmp_path):
    source = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    for name in ("bot", "corpus"):
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--no-index", "-q", "-w", str(tmp_path / "dist"), str(source)], tmp_path)
    assert built.returncode == 0, built.stderr
    assert "deprecat" not in built.stderr.lower(), built.stderr  # e.g. project.license
    (wheel,) = (tmp_path / "dist").glob("mlsprep-*.whl")

    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path) \
        .returncode == 0
    python = str(venv / "bin" / "python")
    installed = run([sys.executable, "-m", "pip", "--python", python, "install", "-q",
                     "--no-deps", "--no-index", str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    tmp_path).stdout.strip())
    # The dependencies come from this venv; a plain path line does not run its .pth files,
    # so the editable install of the checkout stays out of the fresh venv.
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLSPREP_CORPUS", "DATABASE_PATH", "PYTHONPATH")}
    where = run([python, "-c", "import bot.core.corpus as c; print(c.default_corpus_dir())"],
                work, env)
    assert Path(where.stdout.strip()) == site / "bot" / "corpus", where.stderr

    checked = run([python, "-m", "bot", "corpus", "check"], work, env)
    in_checkout = run([sys.executable, "-m", "bot", "corpus", "check"], ROOT, env)
    assert checked.stdout and checked.stdout == in_checkout.stdout, checked.stderr
    assert checked.returncode == in_checkout.returncode

    override = run([python, "-m", "bot", "corpus", "check"], work,
                   {**env, "MLSPREP_CORPUS": str(FIXTURE_CORPUS)})
    assert f"total items: {len(load_corpus(FIXTURE_CORPUS))}\n" in override.stdout, override.stdout

    question = next(q for q in load_corpus() if q.type == "mcq" and q.in_exam("mls-c01"))
    letter = question.answer[0]
    practised = run([python, "-m", "bot", "practice", "--name", "ada", "--db", "x.db",
                     "--question", question.id], work, env, input_text=f"{letter}\nquit\n")
    assert practised.returncode == 0, practised.stderr
    assert f"You chose {letter}; the answer is {letter}." in practised.stdout
    assert (work / "x.db").exists()

    # The serving embedder is the exported model inside the wheel, with its tokenizer.
    encoded = run([python, "-c", "from bot.embeddings import OnnxEmbedder; e = OnnxEmbedder(); "
                   "print(e.model_dir); print(e.encode(['encrypt the bucket']).shape)"],
                  work, env)
    assert encoded.stdout.split("\n")[:2] == [str(site / "bot" / "models" / "embedder"),
                                              "(1, 384)"], encoded.stderr

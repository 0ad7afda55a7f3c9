"""Deploys: requirements.txt stays in sync with pyproject.toml, the bot installs and serves the
way a Procfile platform runs it, and the container files agree with each other.

The platform test takes a couple of minutes: a fresh virtual environment gets
`pip install -r requirements.txt` (torch included), then the Procfile's `web:` line runs in
it and must answer /healthz and load its models with nothing downloaded.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The Slack Web API stand-in of the Slack tests: the bot calls auth.test before it serves.
sys.path.insert(0, str(ROOT / "tests" / "slack"))
from standin import TOKEN, StandIn  # noqa: E402


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compile_requirements = load_script("compile_requirements")
platform = load_script("platform_install")

MODEL_READY_TIMEOUT = 240  # a cold interpreter importing torch on a busy 2-core CI machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except OSError:
        return None


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    return [tuple(line.split(None, 1)) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def dockerfile(name: str) -> list[str]:
    return [args for instruction, args in dockerfile_instructions() if instruction == name]


# requirements.txt ------------------------------------------------------------------------------

def test_requirements_txt_is_in_sync_with_pyproject():
    result = subprocess.run([sys.executable, ROOT / "scripts" / "compile_requirements.py",
                             "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_sync_check_names_a_dependency_added_to_pyproject(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((ROOT / "pyproject.toml").read_text().replace(
        '"tqdm>=4.66",', '"tqdm>=4.66",\n    "httpx>=0.27",'))
    found = compile_requirements.problems(pyproject, ROOT / "requirements.txt")
    assert "pyproject.toml's dependencies changed since requirements.txt was written" in found
    assert "httpx is not pinned" in found


def test_the_sync_check_refuses_a_cuda_torch(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text((ROOT / "requirements.txt").read_text().replace(
        "torch==2.13.0+cpu", "torch==2.13.0"))
    assert compile_requirements.problems(ROOT / "pyproject.toml", requirements) == [
        "torch is not pinned to the CPU build torch==2.13.0+cpu"]


def test_requirements_ask_for_cpu_torch_from_the_pytorch_cpu_index():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert "torch==2.13.0+cpu" in lines
    # The CUDA build's companions; the CPU build needs none of them.
    assert not [line for line in lines if line.startswith(("nvidia-", "triton"))]


def test_python_version_file_matches_the_interpreter_the_requirements_were_resolved_for():
    version = (ROOT / ".python-version").read_text().strip()
    assert version == "3.11"
    assert "CPython 3.11" in (ROOT / "requirements.txt").read_text()


# The container files ------------------------------------------------------------------------------

def test_dockerfile_runs_the_procfile_web_command_on_a_slim_python():
    assert dockerfile("FROM") == ["python:3.11-slim"]
    assert json.loads(dockerfile("CMD")[0]) == shlex.split(platform.procfile_command(ROOT))
    assert any("pip install -r /tmp/requirements.txt" in run for run in dockerfile("RUN"))


def test_dockerfile_keeps_the_database_on_the_declared_volume():
    env = " ".join(dockerfile("ENV"))
    assert "DATABASE_PATH=/data/mlsprep.db" in env and "PORT=3000" in env
    assert json.loads(dockerfile("VOLUME")[0]) == ["/data"]
    assert "chown mlsprep:mlsprep /data" in " ".join(dockerfile("RUN"))


def test_dockerfile_copies_only_files_that_exist_and_the_context_keeps():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    for args in dockerfile("COPY"):
        source = args.split()[0]
        assert (ROOT / source).exists(), source
        assert f"!{source}" in ignore, f"{source} is left out of the build context"


def test_compose_and_fly_mount_a_volume_where_the_database_is():
    compose = (ROOT / "compose.yaml").read_text()
    assert "- mlsprep-data:/data" in compose and re.search(r"^volumes:\n  mlsprep-data:",
                                                            compose, re.M)
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    assert fly["mounts"]["destination"] == str(Path(fly["env"]["DATABASE_PATH"]).parent)
    assert fly["http_service"]["internal_port"] == int(fly["env"]["PORT"])
    assert fly["http_service"]["checks"][0]["path"] == "/healthz"


@pytest.mark.skipif(os.geteuid() != 0, reason="the entrypoint drops root; needs root to test")
def test_the_entrypoint_hands_the_data_directory_to_the_app_user_and_drops_root():
    # Outside pytest's private tmp dir, so that the user dropped to can reach the folder.
    with tempfile.TemporaryDirectory(prefix="deploy-entrypoint-") as tmp:
        os.chmod(tmp, 0o755)
        data = Path(tmp, "data")
        data.mkdir()
        Path(data, "mlsprep.db").write_text("")  # left by an earlier run as root
        env = {**os.environ, "MLSPREP_USER": "nobody", "DATABASE_PATH": f"{data}/mlsprep.db"}
        # A shell, not this venv's python: that may sit under /root, which nobody can enter.
        script = 'id -u; echo "$HOME"; : > "$DATABASE_PATH-wal"'
        result = subprocess.run([sys.executable, ROOT / "deploy" / "entrypoint.py",
                                 "sh", "-c", script],
                                env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        nobody = __import__("pwd").getpwnam("nobody")
        assert result.stdout.split() == [str(nobody.pw_uid), nobody.pw_dir]
        assert {p.stat().st_uid for p in [data, *data.iterdir()]} == {nobody.pw_uid}


# docs/deploy.md --------------------------------------------------------------------------------

def test_every_file_the_deploy_guide_hands_an_operator_is_in_the_repository():
    doc = (ROOT / "docs" / "deploy.md").read_text()
    table = doc.split("## What the repository gives a platform", 1)[1].split("\n\n")[1]
    listed = {name for row in table.splitlines()[2:]
              for name in re.findall(r"`([^`]+)`", row.split("|")[1])}
    assert {"requirements.txt", ".python-version", "Procfile", "Dockerfile", "compose.yaml",
            "fly.toml"} <= listed
    paths = set(re.findall(r"`((?:scripts|deploy|tests|bot)/[\w./-]*\w)", doc))
    assert paths, "the guide names no script"
    assert [name for name in listed | paths if not (ROOT / name).exists()] == []


@pytest.mark.parametrize("platform_name", ["Docker and Compose", "Fly.io", "Render", "Railway",
                                           "Dokku", "Heroku"])
def test_the_deploy_guide_says_where_the_database_lives_on_each_platform(platform_name):
    doc = (ROOT / "docs" / "deploy.md").read_text()
    section = re.search(rf"^## {re.escape(platform_name)}.*?(?=^## |\Z)", doc, re.M | re.S)
    assert section, platform_name
    text = section.group(0)
    if platform_name == "Heroku":
        assert "No persistent disk" in text and "Litestream" in text
    else:
        assert "**Where the SQLite file lives:**" in text and "/data" in text


# Installed and served as a platform does ------------------------------------------------------

@pytest.fixture
def standin():
    server = StandIn().start()
    yield server
    server.stop()


@contextlib.contextmanager
def serving(command: list[str], cwd: Path, env: dict, log_path: Path):
    """Start command, wait until /healthz reports the model loaded; yields (process, seconds)."""
    started = time.monotonic()
    with open(log_path, "w") as log:
        web = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        health = None
        while time.monotonic() - started < MODEL_READY_TIMEOUT:
            assert web.poll() is None, log_path.read_text()
            health = get_json(f"http://127.0.0.1:{env['PORT']}/healthz")
            if health and health["model_ready"]:
                break
            time.sleep(1)
        assert health and health["ok"] and health["model_ready"], log_path.read_text()
        yield web, time.monotonic() - started
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
    assert "Traceback" not in log_path.read_text()


def test_a_platform_install_serves_the_procfile_web_process(tmp_path, standin, capsys):
    app = platform.stage_app(tmp_path / "app")
    python = platform.make_venv(tmp_path / "venv")
    install_seconds = platform.pip_install(python, app / "requirements.txt")
    torch_build = subprocess.run(
        [str(python), "-c", "import torch; print(torch.__version__, torch.version.cuda)"],
        capture_output=True, text=True, check=True).stdout.split()
    assert torch_build == ["2.13.0+cpu", "None"]

    # Packed while the servers run: the two overlap on the machine's cores.
    sizes: dict = {}
    packer = threading.Thread(target=lambda: sizes.update(platform.weigh(python, app, tmp_path)))
    packer.start()

    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "MLSPREP_", "DATABASE_", "PORT", "HF_", "TRANSFORMERS_"))
            and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    base.update({"PATH": f"{python.parent}{os.pathsep}{base['PATH']}",
                 "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": "deploy-test-secret",
                 "SLACK_API_URL": standin.api_url})
    try:
        # As a Procfile platform does: the web: line through a shell, in the app's directory.
        (tmp_path / "disk").mkdir()
        env = {**base, "DATABASE_PATH": str(tmp_path / "disk" / "m.db"), "PORT": str(free_port())}
        with serving(["bash", "-c", platform.procfile_command(app)], app, env,
                     tmp_path / "web.log") as (web, ready_seconds):
            # The whole process tree (gunicorn's arbiter and its one worker), model loaded:
            # what a platform's memory limit has to allow.
            rss_kb = sum(map(int, subprocess.run(["ps", "-o", "rss=", "-s", str(web.pid)],
                                                 capture_output=True, text=True).stdout.split()))
            # The image's HEALTHCHECK command, run as Docker would against this server.
            check = json.loads(dockerfile("HEALTHCHECK")[0].split("CMD", 1)[1])
            assert subprocess.run([str(python), *check[1:]], env=env).returncode == 0

        # As the image would, short of Docker: only what the Dockerfile copies into /app, its
        # ENV (offline model loading included) and its CMD; a folder stands in for the volume.
        image = tmp_path / "image"
        for args in dockerfile("COPY"):
            source, dest = args.split()
            if not dest.startswith("/"):
                shutil.copytree(app / source, image / dest)
        image_env = dict(pair.split("=", 1) for pair in shlex.split(" ".join(dockerfile("ENV")))
                         if not pair.startswith(("PATH=", "VIRTUAL_ENV=")))
        assert image_env["HF_HUB_OFFLINE"] == "1"
        (tmp_path / "volume").mkdir()
        database = tmp_path / "volume" / "mlsprep.db"
        env = {**base, **image_env, "DATABASE_PATH": str(database), "PORT": str(free_port())}
        with serving(json.loads(dockerfile("CMD")[0]), image, env, tmp_path / "image.log"):
            assert database.exists()
    finally:
        packer.join()
        # Two gigabytes that pytest would otherwise keep for its last three runs.
        shutil.rmtree(tmp_path / "venv", ignore_errors=True)
        (tmp_path / "slug.tar.gz").unlink(missing_ok=True)

    report = (f"platform install: pip install -r requirements.txt {install_seconds:.0f} s; "
              f"/healthz with the model ready {ready_seconds:.0f} s after start, "
              f"resident memory {rss_kb / 1e3:,.0f} MB; "
              f"installed packages {platform.mb(sizes['packages'])} + app "
              f"{platform.mb(sizes['app'])}; slug tar.gz {platform.mb(sizes['slug_gz'])}")
    with capsys.disabled():  # into CI's log, not into the captured output of a passed test
        print("\n" + report)

"""The command table: every command is registered, documented and reachable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_every_command_has_help_text_in_the_top_level_help():
    result = subprocess.run([sys.executable, "-m", "bot", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for name, (_, summary) in COMMANDS.items():
        assert summary, name
        assert name in result.stdout
        assert summary in result.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_parses_its_own_help(name, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([name, "--help"])
    assert exited.value.code == 0
    assert COMMANDS[name][1] in capsys.readouterr().out


def test_unknown_command_is_refused_with_the_list_of_commands():
    result = subprocess.run([sys.executable, "-m", "bot", "scroe"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid choice: 'scroe'" in result.stderr
    assert "practice" in result.stderr


def test_importing_the_package_does_not_load_the_model():
    code = ("import sys, bot, bot.cli, bot.config, bot.core.corpus; "
            "build = bot.cli.build_parser(); "
            "print('sentence_transformers' in sys.modules, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"], result.stderr


@pytest.mark.parametrize("command", [["practice"], ["stats", "--name", "ada"], ["board"]])
def test_a_broken_bank_stops_every_command_with_its_problems(tmp_path, command):
    (tmp_path / "bank.yaml").write_text("- id: Bad Id\n", encoding="utf-8")
    env = {**os.environ, "MLSPREP_CORPUS": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "bot", *command, "--db",
                             str(tmp_path / "x.db")], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "mlsprep: the question bank has problems:" in result.stderr
    assert "item Bad Id: field type: missing" in result.stderr

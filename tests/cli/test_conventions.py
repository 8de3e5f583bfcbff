"""CLI conventions: `chorus --version`, and help text on every command, option and argument."""

import argparse

import pytest

from chalicelib.cli import build_parser, main


def _parsers(parser: argparse.ArgumentParser, path: str = "chorus"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def test_every_option_and_argument_has_help_text():
    missing = [
        f"{path}: {'/'.join(action.option_strings) or action.dest}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction) and not action.help
    ]
    assert not missing, f"options without help text: {missing}"


def test_every_command_has_help_text():
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    helped = {choice.dest for choice in sub._choices_actions if choice.help}
    assert helped == set(sub.choices), set(sub.choices) - helped


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"chorus {version('chorus-hub')}"


def test_connector_folder_comes_from_chorus_config_dir_when_no_option_names_one(
    tmp_path, monkeypatch, capsys
):
    """The container image sets CHORUS_CONFIG_DIR: every command that reads connector files finds
    them there (an explicit --config-dir or folder argument still wins)."""
    import shutil
    from pathlib import Path

    folder = tmp_path / "mounted"
    shutil.copytree(Path(__file__).parents[2] / "connectors", folder)
    monkeypatch.setenv("CHORUS_CONFIG_DIR", str(folder))
    assert main(["validate"]) == 0
    assert str(folder) in capsys.readouterr().out

    (folder / "typeform-nps.yaml").unlink()
    body = tmp_path / "body.json"
    body.write_text("{}")
    assert main(["send", "typeform-nps", str(body), "--url", "http://127.0.0.1:9"]) == 1
    assert f"no source connector 'typeform-nps' in {folder}" in capsys.readouterr().err
    assert main(["validate", str(Path(__file__).parents[2] / "connectors")]) == 0


def test_every_connector_folder_option_defaults_to_chorus_config_dir():
    options = [
        (path, action)
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if "--config-dir" in action.option_strings
    ]
    assert len(options) >= 5
    for path, action in options:
        assert action.default is None and "$CHORUS_CONFIG_DIR" in (action.help or ""), path

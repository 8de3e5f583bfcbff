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

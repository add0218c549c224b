"""Every entry point's --help: a help line per option, the choices of an option with fixed ones, and two or three
example commands at the end that its own parser accepts."""

import argparse
import importlib
import re
import shlex
from unittest import mock

import pytest

from bench.__main__ import entry_points

MODULES = [name for name, _ in entry_points()]


def entry_module(name: str):
    """The module `python -m NAME` runs: a package's __main__."""
    module = importlib.import_module(name)
    return importlib.import_module(f"{name}.__main__") if hasattr(module, "__path__") else module


class _Caught(Exception):
    pass


def parser_of(module) -> argparse.ArgumentParser:
    """The entry point's parser: from its build_parser(), or caught where its parse_args(argv) builds it inline."""
    if hasattr(module, "build_parser"):
        return module.build_parser()

    def catch(self, *args, **kwargs):
        raise _Caught(self)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", catch), pytest.raises(_Caught) as caught:
        module.parse_args([])
    return caught.value.args[0]


def parse(module, argv: list[str]) -> argparse.Namespace:
    """argv as the entry point parses it (parse_args(argv) where the module has one: it also fills the defaults)."""
    return module.parse_args(argv) if hasattr(module, "parse_args") else parser_of(module).parse_args(argv)


def example_commands(parser: argparse.ArgumentParser) -> list[str]:
    """The commands under the epilog's last 'examples:' line."""
    _, found, block = (parser.epilog or "").rpartition("examples:\n")
    assert found, f"{parser.prog}: no 'examples:' at the end of --help"
    return [line.strip() for line in block.splitlines() if line.strip()]


def argv_of(command: str, module_name: str) -> list[str] | None:
    """The arguments after '-m <module_name>' (python -m or torchrun -m), comments dropped; None for another
    command (e.g. `python -m reports` after gpu_suite's runs)."""
    words = shlex.split(command, comments=True)
    for i in range(len(words) - 1):
        if words[i] == "-m" and words[i + 1] == module_name:
            return words[i + 2:]
    return None


def names(text: str, items) -> list[str]:
    """The items not named in ``text`` as whole words."""
    return [str(c) for c in items if not re.search(rf"(?<![\w.]){re.escape(str(c))}(?!\w)", text)]


def help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    return parser._get_formatter()._expand_help(action)  # %(default)s and friends filled in, as --help shows


def test_every_entry_point_is_covered():
    assert {"bench.flops", "bench.train", "bench.depth_sweep", "bench.ablation", "bench.gradflow",
            "bench.epoch_time", "bench.kernel", "bench.kernel_aot", "bench.gpu_suite"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_help_ends_with_two_or_three_examples_that_parse(name):
    module = entry_module(name)
    parser = parser_of(module)
    commands = example_commands(parser)
    assert 2 <= len(commands) <= 3, commands
    lines = parser.format_help().rstrip().splitlines()
    assert [line.strip() for line in lines[-len(commands):]] == commands  # the very end of --help
    own = [argv for argv in (argv_of(c, name) for c in commands) if argv is not None]
    assert len(own) >= 2, f"{name}: fewer than two examples of {name} itself"
    for argv in own:
        try:
            args = parse(module, argv)
        except SystemExit as exc:  # argparse's way of refusing
            pytest.fail(f"{name} {shlex.join(argv)}: refused by the parser (exit {exc.code})")
        if getattr(args, "data", None):
            from harness.data_spec import parse_spec

            parse_spec(args.data)


# What the examples' values must also pass beyond argparse: the checks each command makes before any work.
CHECKS = {
    "bench.flops": lambda m, args: m.model_names(args),
    "bench.depth_sweep": lambda m, args: m.cells(args),
    "bench.ablation": lambda m, args: m.cells(args),
    "bench.gradflow": lambda m, args: m.make_cells(args),
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_examples_pass_the_commands_own_checks(name):
    module = entry_module(name)
    for command in example_commands(parser_of(module)):
        argv = argv_of(command, name)
        if argv is not None:
            assert CHECKS[name](module, parse(module, argv))


@pytest.mark.parametrize("name", MODULES)
def test_every_option_has_help_and_shows_its_choices(name):
    parser = parser_of(entry_module(name))
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        option = "/".join(action.option_strings) or action.dest
        text = help_text(parser, action)
        assert action.help and text.strip(), f"{name} {option}: no help"
        if action.choices is not None and action.metavar is not None:  # argparse shows {a,b} only without one
            assert not names(text, action.choices), f"{name} {option}: help does not name {names(text, action.choices)}"
        listed = getattr(action.type, "choices", None)  # harness.cli.choice_list: a comma-list of fixed names
        if listed:
            assert not names(text, listed), f"{name} {option}: help does not name {names(text, listed)}"


def _named():
    """(module, option, names the code validates that option against): options taking names that argparse
    does not check, so only their help can tell them."""
    from bench.data.synth import BALANCES
    from bench.epoch_time import EPOCH_SIZES
    from bench.kernel import FLAT, UNITS
    from bench.training.plain import LOSSES
    from breg_models import BYPASS_FUNCTIONS
    from breg_models.specs import ARRANGEMENTS
    from harness.data_spec import SOURCES
    from reports.epoch_time import IMPL_ORDER

    return [
        ("bench.depth_sweep", "--arrangements", ARRANGEMENTS),
        *[(m, "--data", SOURCES) for m in ("bench.depth_sweep", "bench.ablation", "bench.train")],
        *[(m, "--bypass", BYPASS_FUNCTIONS) for m in ("bench.flops", "bench.gradflow", "bench.train")],
        ("bench.epoch_time", "--bypass-impls", IMPL_ORDER),
        ("bench.epoch_time", "--epoch-size", EPOCH_SIZES),
        ("bench.train", "--loss", [loss for losses in LOSSES.values() for loss in losses]),
        ("bench.train", "--synth-balance", BALANCES),
        ("bench.gpu_suite", "--kernel-sizes", [*UNITS, *FLAT]),
    ]


def test_options_checked_elsewhere_name_their_choices():
    for name, option, valid in _named():
        parser = parser_of(entry_module(name))
        action = next(a for a in parser._actions if option in a.option_strings)
        missing = names(help_text(parser, action), valid)
        assert not missing, f"{name} {option}: help does not name {missing}"

"""``python -m fer_study COMMAND [options]``.

Each command lives in a module that provides ``add_cli_arguments(parser)`` and ``run_cli(args) -> int``
(the exit code) and whose docstring's first line is the command's help; add a command by adding its
module to ``COMMANDS``.
"""

import argparse
import importlib
import sys

COMMANDS = {"predict": "fer_study.apps.recognize.cli", "export": "fer_study.apps.recognize.export",
            "serve": "fer_study.apps.recognize.serve"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_study")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = commands.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_cli_arguments(command)
        command.set_defaults(run_cli=module.run_cli)
    args = parser.parse_args(argv)
    return args.run_cli(args)


if __name__ == "__main__":
    sys.exit(main())

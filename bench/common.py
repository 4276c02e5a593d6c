"""What the benchmarks share: their command line and the registry of their database."""

import argparse

import odoo
from odoo.modules.registry import Registry


def parse_args(doc, count_option, default, extra=None):
    """Return the arguments of a benchmark: --database, --addons-path and its count option.

    :param str doc: The benchmark's docstring (its first line describes it).
    :param str count_option: The option giving how many records, e.g. '--rows'.
    :param int default: Its default.
    :param callable extra: Adds further options to the parser.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument('--database', required=True)
    parser.add_argument('--addons-path', required=True)
    parser.add_argument(count_option, type=int, default=default)
    if extra:
        extra(parser)
    return parser.parse_args()


def open_registry(args):
    """Configure Odoo for the benchmark's database and return its registry."""
    odoo.tools.config.parse_config(
        ['-d', args.database, f'--addons-path={args.addons_path}', '--log-level=warn']
    )
    return Registry(args.database)

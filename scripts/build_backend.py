"""The add-on's PEP 517 build backend: OCA's whool, run on the add-on alone.

whool packs every file under git and names the distribution after the directory it builds in.
A checkout of this repository holds the add-on and its tooling (bench/, scripts/, tests/,
.ci/) under whatever name it was cloned as. This backend copies the add-on's own files into a
directory named `payment_plan`, with a plain whool `pyproject.toml`, and lets whool build
there: `pip install .` and `pip wheel .` give `odoo-addon-payment_plan`, whatever the
checkout's name, and its sdist is an ordinary whool sdist.
"""

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from whool import buildapi

ADDON_NAME = 'payment_plan'
ROOT = Path(__file__).resolve().parent.parent
# What a distribution of the add-on holds: its directories and its top-level Python files and
# README; never the repository's tooling (bench/, scripts/, tests/, .ci/), a local
# configuration or compiled files.
ADDON_DIRS = {
    'controllers', 'data', 'demo', 'i18n', 'migrations', 'models', 'report', 'security',
    'static', 'tools', 'views', 'wizards',
}  # fmt: skip
ADDON_FILES = {'README.md', 'LICENSE'}
PYPROJECT = """\
[build-system]
requires = ["whool"]
build-backend = "whool.buildapi"

[tool.whool]
# The version is the manifest's: the staged copy has no git history to count commits in.
post_version_strategy_override = "none"
"""


def _addon_files():
    """Return the add-on's files, relative to the checkout: those git tracks (else, outside a
    git checkout, every file), in the add-on's directories or its top-level Python files and
    README, without dot files, caches and compiled files."""
    try:
        listed = subprocess.check_output(['git', 'ls-files', '-z'], cwd=ROOT, text=True)
        files = [name for name in listed.split('\0') if name]
    except (OSError, subprocess.CalledProcessError):
        files = [str(path.relative_to(ROOT)) for path in ROOT.rglob('*') if path.is_file()]
    return [name for name in files if _is_addon_file(name) and (ROOT / name).is_file()]


def _is_addon_file(name):
    parts = name.split('/')
    if any(part.startswith('.') or part == '__pycache__' for part in parts):
        return False
    if name.endswith(('.pyc', '.pyo')):
        return False
    if len(parts) == 1:
        return name.endswith('.py') or name in ADDON_FILES
    return parts[0] in ADDON_DIRS


def _staged(hook, directory):
    """Call whool's PEP 517 `hook` (it builds in the current directory) on a copy of the add-on
    named after it, writing into `directory`."""
    directory = str(Path(directory).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        addon_dir = Path(tmp) / ADDON_NAME
        for name in _addon_files():
            target = addon_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
        (addon_dir / 'pyproject.toml').write_text(PYPROJECT)
        with contextlib.chdir(addon_dir):
            return hook(directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _staged(buildapi.build_wheel, wheel_directory)


def build_sdist(sdist_directory, config_settings=None):
    return _staged(buildapi.build_sdist, sdist_directory)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _staged(buildapi.prepare_metadata_for_build_wheel, metadata_directory)

# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify runs one pytest-xdist worker per VM (molecule.yml: verifier option n 2), with the scheduler of the default
scenario (molecule/default/tests/conftest.py): every test of one VM on one worker, in order."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_DEFAULT = Path(__file__).resolve().parents[2] / "default" / "tests" / "conftest.py"
_spec = importlib.util.spec_from_file_location("oomguard_default_scenario_conftest", _DEFAULT)
_default = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_default)

pytest_xdist_make_scheduler = _default.pytest_xdist_make_scheduler

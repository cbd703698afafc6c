# SPDX-License-Identifier: GPL-3.0-or-later
"""What every part of the lab shares: where it keeps things, logging, running commands, lab names, run dirs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

TOOL_VERSION = "1"
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = REPO / ".cache" / "lab"
IMAGES = CACHE / "images"
RUNS = CACHE / "run"

STOP = threading.Event()  # set by a signal: stop waiting, tear down


class Interrupted(Exception):
    pass


def log(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def run(cmd: List[str], check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, text=True, **kwargs)


def lab_name(name: Optional[str]) -> str:
    value = name or os.environ.get("LAB_NAME") or "default"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", value):
        raise SystemExit(f"lab: invalid lab name {value!r} (lowercase letters, digits, '-', at most 20)")
    return value


def all_states() -> List[Dict[str, Any]]:
    states = []
    for path in sorted(RUNS.glob("*/state.json")) if RUNS.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            states.append(json.loads(path.read_text()))
    return states

# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the get-pip script that ansible-test downloads to bootstrap pip in its venvs.

ansible-test fetches get-pip from a host that CI machines cannot reach. This script is placed
where ansible-test caches that download (~/.ansible/test/cache/get_pip_<version>.py) and does
the same job with what Python ships: ensurepip, then pip from the package index.
"""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def main():
    # ensurepip in this process would set PIP_CONFIG_FILE=/dev/null for the pip install below too,
    # dropping the machine's pip configuration (certificates, mirrors).
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, "-m", "pip", "install", *arguments])


if __name__ == "__main__":
    main()

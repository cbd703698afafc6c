# SPDX-License-Identifier: GPL-3.0-or-later
"""The test lab: throwaway systemd hosts for the tests (see README.md; the command line is cli.py)."""

# SPDX-License-Identifier: GPL-3.0-or-later
"""The test lab (see lab.py and README.md)."""

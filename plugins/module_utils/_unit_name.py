# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""systemd unit name validation, following the rules of systemd.unit(5) and systemd's unit-name.c.

PRIVATE to the oomguard.memory collection. No compatibility promise.

A unit name is C(prefix[@instance].type): at most 255 characters, a known type suffix, a prefix
of ASCII letters, digits and C(:-_.\\), an optional instance (which may also contain C(@)) and, for
templates, an empty instance (C(getty@.service)). Path separators, white space and shell
metacharacters are never valid, so a valid name is always safe to use as a path component.
"""

from __future__ import annotations

import string

UNIT_NAME_MAX = 255
UNIT_TYPES = (
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
)
_VALID_CHARS = frozenset(string.ascii_letters + string.digits + ":-_.\\")
_VALID_INSTANCE_CHARS = _VALID_CHARS | {"@"}


class UnitNameError(ValueError):
    """An invalid unit name; the message says which rule it breaks."""


def _bad_chars(text, allowed):
    return sorted({char for char in text if char not in allowed})


def split_unit_name(name):
    """Return (prefix, instance, unit_type) of a valid name; instance is None for plain units, '' for templates.

    Raises UnitNameError with the reason when the name is not valid.
    """
    if not isinstance(name, str) or not name:
        raise UnitNameError("a unit name cannot be empty")
    if len(name) > UNIT_NAME_MAX:
        raise UnitNameError(
            "unit name %r is %d characters long; systemd allows at most %d" % (name, len(name), UNIT_NAME_MAX)
        )
    if "/" in name:
        raise UnitNameError("unit name %r contains '/'; give the unit name, not a path" % (name,))
    stem, dot, suffix = name.rpartition(".")
    if not dot or suffix not in UNIT_TYPES:
        hint = ""
        if not dot and not _bad_chars(name, _VALID_INSTANCE_CHARS):
            hint = "; did you mean %r?" % (name + ".service",)
        raise UnitNameError(
            "unit name %r has no valid type suffix (one of .%s)%s" % (name, ", .".join(UNIT_TYPES), hint)
        )
    prefix, at, instance = stem.partition("@")
    if not prefix:
        raise UnitNameError("unit name %r has an empty prefix before the type suffix or '@'" % (name,))
    bad = _bad_chars(prefix, _VALID_CHARS)
    if at:
        bad += [char for char in _bad_chars(instance, _VALID_INSTANCE_CHARS) if char not in bad]
    if bad:
        raise UnitNameError(
            "unit name %r contains characters systemd does not allow (%s); only ASCII letters, digits and "
            "':-_.\\' are valid, with '@' separating a template instance; escape other characters with "
            "systemd-escape" % (name, " ".join(repr(char) for char in bad))
        )
    return prefix, (instance if at else None), suffix


def validate_unit_name(name):
    """Return the unit type ('service', 'slice', ...) of a valid name; raise UnitNameError otherwise."""
    return split_unit_name(name)[2]


def is_template(name):
    """True for a template name such as 'getty@.service' (an '@' with an empty instance)."""
    return split_unit_name(name)[1] == ""

# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Redaction of likely secrets in command lines, so that facts are safe to cache.

PRIVATE to the oomguard.memory collection. No compatibility promise.

What is replaced by ``REDACTED`` (matching is case-insensitive for names):

* the value of an option or key whose name contains a secret word (``SECRET_WORDS``: pass, pwd, secret, token,
  api key, access key, private key, credential, auth, cookie; ``-``, ``_`` and ``.`` in names are ignored):
  ``--password=x``, ``--password x`` (the next argument), ``PGPASSWORD=x``, ``?token=x&``, ``{"api_key": "x"}``,
  ``client_secret: x``;
* an HTTP header argument whose name contains a secret word, whole: ``Authorization: Bearer x``, ``X-Api-Key: x``;
* ``Bearer x`` and ``Basic x`` anywhere;
* the password of credentials in URLs: ``scheme://user:x@host``;
* AWS access key ids (``AKIA``/``ASIA`` and 16 more upper-case letters or digits);
* the password glued to ``-p`` on the command line of MySQL and MariaDB clients (``mysql -uroot -pSECRET``;
  ``-p`` alone prompts, and the next argument is then a database name, kept).

Every step is a left-to-right scan with bounded look-ahead, so the cost is linear in the length of the text.
Over-redaction (a harmless value after an option named like ``--auth-file``) is accepted; a missed secret is not.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"
# Clients whose -pVALUE is a password (elsewhere -p is often a port or a path)
GLUED_PASSWORD_PROGRAMS = frozenset(
    (
        "mysql",
        "mysqldump",
        "mysqladmin",
        "mysqlimport",
        "mysqlshow",
        "mysqlcheck",
        "mysqlpump",
        "mysqlslap",
        "mariadb",
        "mariadb-dump",
        "mariadb-admin",
        "mariadb-import",
        "mariadb-show",
        "mariadb-check",
        "mariadb-slap",
    )
)
SECRET_WORDS = ("pass", "pwd", "secret", "token", "apikey", "accesskey", "privatekey", "credential", "auth", "cookie")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_SEPARATOR = re.compile(r"[\"']?[ \t]{0,3}[=:][ \t]{0,3}")
_VALUE = re.compile(r"[^\s&;,\"'}\])]*")
_OPTION_GAP = re.compile(r"[ \t]+(?=[^\s-])")
_HEADER = re.compile(r"^(?P<name>[A-Za-z0-9-]{1,64}):(?=\s|$)")
_SCHEME_AUTH = re.compile(r"(?i)\b(?P<scheme>bearer|basic)[ \t]+(?P<value>[^\s\"']+)")
_AWS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")


def is_secret_name(name):
    """True when an option, key or header name contains a secret word."""
    squashed = name.lower().replace("-", "").replace("_", "").replace(".", "")
    return any(word in squashed for word in SECRET_WORDS)


def _redact_key_values(text):
    """Replace the values of ``name=value`` / ``name: value`` / ``"name": "value"`` pairs with secret names."""
    out = []
    position = 0
    search_from = 0
    while True:
        name = _NAME.search(text, search_from)
        if name is None:
            break
        search_from = name.end()
        if not is_secret_name(name.group()):
            continue
        separator = _SEPARATOR.match(text, name.end())
        if separator is None and name.group().startswith("-"):
            separator = _OPTION_GAP.match(text, name.end())
        if separator is None:
            continue
        start = separator.end()
        if start < len(text) and text[start] in "\"'":
            quote = text[start]
            start += 1
            end = text.find(quote, start)
            end = len(text) if end == -1 else end
        else:
            end = _VALUE.match(text, start).end()
        if end > start:
            out.append(text[position:start])
            out.append(REDACTED)
            position = end
        search_from = max(end, search_from)
    out.append(text[position:])
    return "".join(out)


def _redact_url_passwords(text):
    """Replace the password of ``scheme://user:password@host`` credentials."""
    out = []
    position = 0
    index = text.find("://")
    while index != -1:
        start = index + 3
        end = start
        while end < len(text) and text[end] not in "/ \t\"'?#":
            end += 1
        authority = text[start:end]
        at = authority.rfind("@")
        colon = authority.find(":", 0, at) if at > 0 else -1
        if colon != -1 and at - colon > 1:
            out.append(text[position : start + colon + 1])
            out.append(REDACTED)
            position = start + at
        index = text.find("://", end)
    out.append(text[position:])
    return "".join(out)


def redact_text(text):
    """Redact likely secrets in one piece of text (one argument, or a whole log message)."""
    if not text:
        return text
    header = _HEADER.match(text)
    if header and is_secret_name(header.group("name")):
        return header.group(0) + " " + REDACTED
    text = _SCHEME_AUTH.sub(lambda match: match.group("scheme") + " " + REDACTED, text)
    text = _redact_key_values(text)
    if "://" in text:
        text = _redact_url_passwords(text)
    return _AWS_KEY_ID.sub(REDACTED, text)


def redact_argv(argv):
    """Redact a command line given as its list of arguments; an option with a secret name hides the next one."""
    redacted = []
    hide_next = False
    glued_password = bool(argv) and argv[0].rpartition("/")[2] in GLUED_PASSWORD_PROGRAMS
    for argument in argv:
        if glued_password and argument.startswith("-p") and len(argument) > 2:
            redacted.append("-p" + REDACTED)
            hide_next = False
            continue
        if hide_next and argument and not argument.startswith("-"):
            redacted.append(REDACTED)
            hide_next = False
            continue
        hide_next = False
        if argument.startswith("-") and "=" not in argument and is_secret_name(argument.lstrip("-")):
            hide_next = True
        redacted.append(redact_text(argument))
    return redacted


def redact_cmdline(raw, limit=256):
    """Turn a raw /proc/PID/cmdline (NUL-separated bytes) into redacted text cut to ``limit`` characters."""
    argv = raw.rstrip(b"\0").decode("utf-8", errors="replace").split("\0")
    text = " ".join(redact_argv(argv)) if argv != [""] else ""
    if limit and len(text) > limit:
        return text[: limit - 3] + "..."
    return text

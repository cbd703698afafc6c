# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Redaction of secrets in command lines (invented secrets), and its cost on hostile input."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils._redact import (
    REDACTED,
    redact_argv,
    redact_cmdline,
    redact_text,
)


def argv(*args):
    return b"".join(arg.encode() + b"\0" for arg in args)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("app", "--password=hunter2", "--user", "bob"), "app --password=<redacted> --user bob"),
        (("app", "--password", "hunter2", "-v"), "app --password <redacted> -v"),
        (("app", "--db-password", "--other"), "app --db-password --other"),
        (("mysqldump", "--passwd=x"), "mysqldump --passwd=<redacted>"),
        (("env", "PGPASSWORD=pw", "psql"), "env PGPASSWORD=<redacted> psql"),
        (
            ("curl", "https://api.example.com/v1?token=abc&page=2"),
            "curl https://api.example.com/v1?token=<redacted>&page=2",
        ),
        (("curl", "-H", "Authorization: Bearer abc.def.ghi"), "curl -H Authorization: <redacted>"),
        (("curl", "-H", "X-Api-Key: k1"), "curl -H X-Api-Key: <redacted>"),
        (("curl", "-H", "Accept: application/json"), "curl -H Accept: application/json"),
        (
            ("git", "clone", "https://bob:s3cr3t@git.example.com/r.git"),
            "git clone https://bob:<redacted>@git.example.com/r.git",
        ),
        (("psql", "postgresql://app:pw@db:5432/app"), "psql postgresql://app:<redacted>@db:5432/app"),
        (("git", "clone", "https://bob@git.example.com/r.git"), "git clone https://bob@git.example.com/r.git"),
        (("aws", "AKIAIOSFODNN7EXAMPLE"), "aws <redacted>"),
        (
            ("x", "--env", '{"API_TOKEN": "abc def", "HOME": "/root"}'),
            'x --env {"API_TOKEN": "<redacted>", "HOME": "/root"}',
        ),
        (("java", "-Dapi.key=123", "-Xmx1g"), "java -Dapi.key=<redacted> -Xmx1g"),
        (("app", "--client-secret:zzz"), "app --client-secret:<redacted>"),
        (("app", "secret: y"), "app secret: <redacted>"),
        (("app", "--access_key", "AK"), "app --access_key <redacted>"),
        (("app", "--private-key-file=/etc/key.pem"), "app --private-key-file=<redacted>"),
        (("python3", "-m", "worker", "--queue", "default"), "python3 -m worker --queue default"),
        (("sshd: root@notty",), "sshd: root@notty"),
        (("bash", "-c", "echo Bearer xyz"), "bash -c echo Bearer <redacted>"),
        (("mysql", "-uroot", "-pS3cret", "shop"), "mysql -uroot -p<redacted> shop"),
        (("/usr/bin/mariadb-dump", "-phunter2"), "/usr/bin/mariadb-dump -p<redacted>"),
        (("mysql", "-p", "shop"), "mysql -p shop"),
        (("iperf3", "-p5201"), "iperf3 -p5201"),
    ],
)
def test_redacted_command_lines(args, expected):
    assert redact_cmdline(argv(*args), limit=0) == expected


def test_text_form_hides_the_word_after_an_option():
    message = 'sending SIGTERM to process 42 "app": VmRSS 12 MiB, cmdline "app --password hunter2 --token=abc"'
    assert redact_text(message) == (
        'sending SIGTERM to process 42 "app": VmRSS 12 MiB, cmdline "app --password <redacted> --token=<redacted>"'
    )


def test_argv_keeps_its_length():
    assert redact_argv(["a", "--token", "t", "b"]) == ["a", "--token", REDACTED, "b"]


def test_cut_after_redaction():
    raw = argv("app", "--password=" + "x" * 500, "tail")
    text = redact_cmdline(raw, limit=40)
    assert text == "app --password=<redacted> tail"
    long = redact_cmdline(argv("app", "a" * 500), limit=40)
    assert (len(long), long.endswith("...")) == (40, True)


def test_kernel_threads_and_empty():
    assert redact_cmdline(b"") == ""
    assert redact_text("") == ""


HOSTILE = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.oomguard.memory.plugins.module_utils._redact import redact_text
    pieces = ["a", "pass", "a=", "pass=", "://", "x://a:", '"pass":', "-pass ", "AKIA", "Bearer ", "a" * 63 + ":"]
    start = time.perf_counter()
    for piece in pieces:
        redact_text(piece * (200000 // len(piece)))
    print(time.perf_counter() - start)
    """
)


def test_hostile_text_costs_linear_time():
    """200,000 characters of each hostile pattern (50x the 4 KiB read cap) in well under the timeout."""
    collections = next(path for path in sys.path if path.endswith(".cache/collections"))
    result = subprocess.run(
        [sys.executable, "-c", HOSTILE, collections], capture_output=True, text=True, timeout=20, check=True
    )
    assert float(result.stdout) < 10

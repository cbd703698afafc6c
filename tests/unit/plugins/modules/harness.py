# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One way to run the collection's modules in unit tests, for the tests of oom_facts, oom_score_adj and
systemd_memory alike.

``run_module(entry, args, ...)`` runs ``entry`` in this process as Ansible runs a module: ``args`` are the module's
arguments (with check and diff mode as Ansible passes them), ``exit_json``/``fail_json`` are the real ones and
print the JSON result, which is read back. ``entry`` is a module's ``main()``, or ``task_entry()`` /
another function that builds the module with test-only arguments (a fake /proc, a fake root) and exits as main()
does. It returns ``(result, warnings)``: the printed result with the exit status as ``rc``, and the text of this
run's warnings.

Commands: ``commands={name: fake}`` answers ``get_bin_path(name)`` and ``run_command()`` for that name. A fake is
``None`` (not installed), the path of an executable (found there and run for real), or an object called with
the argv and returning ``(rc, stdout, stderr)`` in this process (``FakeSystemctl``, ``FakeSadf``), found as
/usr/bin/NAME. Names not given are this machine's own.

``FakeSystemctl`` answers ``systemctl show``, ``daemon-reload`` and ``--version`` as systemd does, from a table of
units, a function of the unit name, and the drop-ins of a unit directory that it reads on daemon-reload. The fake
/proc and host trees are fakeproc.py (tests/unit/plugins/module_utils) and fakehost.py.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import os
from unittest import mock

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oomguard.memory.plugins.module_utils._dropin import parse_dropin
from ansible_collections.oomguard.memory.plugins.module_utils._sizes import parse_size

FAKE_BIN = "/usr/bin"
SIZE_PROPERTIES = ("MemoryMax", "MemoryHigh", "MemoryLow", "MemoryMin", "MemorySwapMax", "MemoryZSwapMax")


def warning_messages(result):
    """Warnings as text: plain strings, or WarningSummary dicts as ansible-core 2.19 and later print them."""
    return [item["event"]["msg"] if isinstance(item, dict) else item for item in result.get("warnings", [])]


def task_entry(build_module, task_class, **task_arguments):
    """An entry like the modules' main(): build the module, run ``task_class(module, **task_arguments)``, exit."""

    def entry():
        module = build_module()
        task = task_class(module, **task_arguments)
        task.run()
        module.exit_json(**task.result)

    return entry


class _Commands:
    """AnsibleModule.get_bin_path and run_command as ``commands`` says (see the module docstring)."""

    def __init__(self, commands):
        self.commands = dict(commands or {})
        self.real_get_bin_path = AnsibleModule.get_bin_path
        self.real_run_command = AnsibleModule.run_command

    def _in_process(self, path):
        name = os.path.basename(path) if isinstance(path, str) else None
        fake = self.commands.get(name)
        if callable(fake) and path == os.path.join(FAKE_BIN, name):
            return fake
        return None

    def patches(self):
        commands = self

        def get_bin_path(module, name, required=False, opt_dirs=None):
            if name not in commands.commands:
                return commands.real_get_bin_path(module, name, required, opt_dirs)
            fake = commands.commands[name]
            if fake is None:
                if required:
                    module.fail_json(msg="Failed to find required executable %s" % name)
                return None
            return os.path.join(FAKE_BIN, name) if callable(fake) else fake

        def run_command(module, args, *posargs, **kwargs):
            fake = commands._in_process(args[0] if isinstance(args, (list, tuple)) and args else None)
            if fake is None:
                return commands.real_run_command(module, args, *posargs, **kwargs)
            return fake(list(args), **kwargs)

        return mock.patch.multiple(AnsibleModule, get_bin_path=get_bin_path, run_command=run_command)


def run_module(entry, args, check_mode=False, diff=False, commands=None, patches=()):
    """Run ``entry()`` with ``args`` as the module arguments; return ``(result, warnings)``.

    ``patches``: ``(target, attribute, value)`` set for this run only. The result is what the module printed
    (exit_json or fail_json), with the exit status as ``rc``; a run that neither exits nor fails is an error.
    """
    module_args = {"_ansible_check_mode": check_mode, "_ansible_diff": diff, **args}
    printed = io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(patch_module_args(module_args))
        # warnings are gathered process-wide: this run starts with none and leaves none behind
        stack.enter_context(mock.patch.object(module_warnings, "_global_warnings", {}))
        stack.enter_context(mock.patch.object(module_warnings, "_global_deprecations", {}))
        stack.enter_context(_Commands(commands).patches())
        for target, attribute, value in patches:
            stack.enter_context(mock.patch.object(target, attribute, value))
        stack.enter_context(contextlib.redirect_stdout(printed))
        code = None
        try:
            entry()
        except SystemExit as exited:
            code = exited.code
        else:
            raise AssertionError("the module neither exited nor failed")
    result = json.loads(printed.getvalue())
    result["rc"] = code
    return result, warning_messages(result)


class FakeSystemctl:
    """A systemctl for run_command: ``show -p ... -- UNIT|PATTERN...``, ``daemon-reload`` and ``--version``.

    The properties of a unit are, lowest first: ``units[unit]`` (or ``properties(unit)``; neither gives a unit
    that is not loaded), what daemon-reload read from ``unit_dir``'s drop-ins (sizes in bytes, as systemd shows
    them), then ``overrides`` (a drop-in of higher precedence). ``show`` prints the requested properties the unit
    has, and with ``missing=""`` the others as empty (set to None: left out, as for a property this systemd does
    not know). ``failures={verb: (rc, stdout, stderr)}`` makes a verb fail. Every argv is kept in ``calls``.
    """

    def __init__(self, units=None, version="252", unit_dir=None, missing=None, failures=None):
        self.units = dict(units or {})
        self.version = version
        self.unit_dir = str(unit_dir) if unit_dir else None
        self.missing = missing
        self.failures = dict(failures or {})
        self.need_reload = "no"
        self.overrides = {}
        self.reloaded = {}
        self.calls = []

    def properties(self, unit):
        """The unit's own properties ({name: text}), or None when systemd does not know it."""
        found = self.units.get(unit)
        return dict(found) if found is not None else None

    def _values(self, unit):
        values = self.properties(unit)
        if values is None:
            return None
        for name, value in self.reloaded.get(unit, {}).items():
            if name in SIZE_PROPERTIES and value != "infinity" and not value.endswith("%"):
                value = str(parse_size(value))
            values[name] = value
        values.update(self.overrides)
        values.setdefault("NeedDaemonReload", self.need_reload)
        return values

    def _show(self, argv):
        wanted = argv[argv.index("-p") + 1].split(",")
        patterns = argv[argv.index("--") + 1 :]
        blocks = []
        for pattern in patterns:
            if any(char in pattern for char in "*?["):
                names = sorted(name for name in self.units if fnmatch.fnmatchcase(name, pattern))
            else:
                names = [pattern]
            for name in names:
                values = self._values(name)
                if values is None:
                    values = {"LoadState": "not-found", "ActiveState": "inactive"}
                values = dict(values, Id=name)
                lines = [
                    "%s=%s" % (key, values.get(key, self.missing))
                    for key in wanted
                    if key in values or self.missing is not None
                ]
                blocks.append("\n".join(lines))
        return 0, "\n\n".join(blocks) + "\n", ""

    def daemon_reload(self):
        self.reloaded = {}
        for entry in sorted(os.listdir(self.unit_dir)) if self.unit_dir else ():
            directory = os.path.join(self.unit_dir, entry)
            for name in sorted(os.listdir(directory)) if entry.endswith(".d") else ():
                if name.endswith(".conf"):
                    with open(os.path.join(directory, name)) as handle:
                        self.reloaded.setdefault(entry[:-2], {}).update(parse_dropin(handle.read()))
        self.need_reload = "no"

    def __call__(self, argv, **_kwargs):
        self.calls.append(list(argv))
        verb = argv[1] if len(argv) > 1 else ""
        if verb in self.failures:
            return self.failures[verb]
        if verb == "--version":
            return 0, "systemd %s (%s.1-1)\n+PAM +AUDIT\n" % (self.version, self.version), ""
        if verb == "daemon-reload":
            self.daemon_reload()
            return 0, "", ""
        if verb == "show":
            return self._show(argv)
        raise AssertionError("fake systemctl: unexpected command %r" % (argv,))


class FakeSadf:
    """``sadf -j FILE -- -r``: prints the JSON stored next to FILE as FILE.json; FILE without one is not readable."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, **_kwargs):
        self.calls.append(list(argv))
        path = argv[argv.index("-j") + 1]
        if not os.path.exists(path + ".json"):
            return 2, "", "Invalid system activity file: %s\n" % path
        with open(path + ".json") as handle:
            return 0, handle.read(), ""

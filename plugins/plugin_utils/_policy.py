# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One memory-protection policy resolved per host: classes, services, processes, guard rails, rollback state.

PRIVATE to the oomguard.memory collection. No compatibility promise.

Everything here is a plain function of plain data (the oom_facts 1.1 facts of one host, the policy variables,
the results of the role's check-mode probes), so it is unit-tested without Ansible. The filter plugins
C(oom_policy_resolve) and C(oom_policy_violations) are thin wrappers around C(resolve_policy) and
C(collect_violations).

The controller never runs the policy's regular expressions on command lines (command lines are written by
whoever starts a process): the role lets C(oom_score_adj) match them on the host in check mode and passes the
result in as C(probes).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import string

from ansible.module_utils.common.validation import check_type_bool, check_type_int

from ansible_collections.oomguard.memory.plugins.module_utils._sizes import (
    U64_MAX,
    SizeError,
    human,
    parse_memory_value,
    resolve,
)
from ansible_collections.oomguard.memory.plugins.module_utils._unit_name import UnitNameError, split_unit_name

POLICY_VERSION = 1
STATE_VERSION = 1
PAGE = 4096

MEMORY_KEYS = ("memory_min", "memory_low", "memory_high", "memory_max", "memory_swap_max")
KILLER_PREFERENCES = ("avoid", "prefer", "none")
OOM_POLICIES = ("continue", "stop", "kill")
KILLERS = ("none", "systemd-oomd", "earlyoom")
CLASS_KEYS = frozenset((*MEMORY_KEYS, "oom_score_adj", "oom_policy", "killer_preference", "description"))
SERVICE_KEYS = frozenset((*MEMORY_KEYS, "name", "class", "oom_score_adj", "oom_policy", "process_names"))
PROCESS_KEYS = frozenset(("pattern", "class", "oom_score_adj", "name"))
PATTERN_MAX = 1024

# The built-in classes; oom_protect_classes adds classes or overrides keys of these, class by class.
DEFAULT_CLASSES = {
    "critical": {"oom_score_adj": -900, "killer_preference": "avoid"},
    "important": {"oom_score_adj": -500, "killer_preference": "none"},
    "standard": {"oom_score_adj": 0, "killer_preference": "none"},
    "expendable": {"oom_score_adj": 500, "killer_preference": "prefer"},
    "sacrificial": {"oom_score_adj": 1000, "killer_preference": "prefer"},
}
CRITICAL_CLASS = "critical"

# Unit types with a cgroup, and which settings systemd accepts for which type (systemd.resource-control(5),
# systemd.exec(5), systemd.service(5)).
CGROUP_TYPES = ("service", "socket", "mount", "swap", "slice", "scope")
EXEC_TYPES = ("service", "socket", "mount", "swap")
OOM_POLICY_TYPES = ("service", "scope")
MANAGED_OOM_TYPES = ("service", "scope", "slice")

# Units a policy never touches: Google's guest agents set OOMScoreAdjust=-999 themselves, and the kubelet owns the
# values of everything it runs. A glob that matches one of them skips it; naming one exactly is a violation.
DEFAULT_NEVER_TOUCH = (
    "google-guest-agent.service",
    "google-guest-agent-manager.service",
    "kubelet.service",
)
# Process names (comm, 15 characters at most) of the same agents, checked against what the process rules match.
NEVER_TOUCH_COMMS = frozenset(("google_guest_ag", "google-guest-ag", "kubelet", "kube-proxy"))
GKE_LABEL = "goog-gke-node"

EARLYOOM_DEFAULT_FILE = "/etc/default/earlyoom"
_EARLYOOM_NAME = re.compile(r"^[A-Za-z0-9_.:+@-]{1,15}$")


class PolicyError(ValueError):
    """The policy variables themselves are invalid (the same on every host)."""


# -- the role's other variables -----------------------------------------------------------------------------------

# The role's argument spec checks that a value can be converted, but hands the variable on unconverted ("7", "no",
# a list where a str is expected is turned into its text for the check only). These are checked and converted here,
# before any host is changed: (kind, lowest, highest) for numbers.
BOOL_VARIABLES = ("allow_unkillable", "skip_gke_nodes", "restart_ok", "manage_packages")
INT_VARIABLES = {
    "max_critical": (0, None),
    "max_protected_percent": (0, 100),
    "preview_top": (0, None),
    "facts_top_processes": (0, None),
}
STATES = ("present", "absent")
_PERCENT = re.compile(r"^(100(\.0{1,2})?|[0-9]{1,2}(\.[0-9]{1,2})?)%$")
# EARLYOOM_ARGS is read by systemd (EnvironmentFile=) and sourced by the package's init script: no quoting, no
# expansion, one line.
_EARLYOOM_ARGS_UNSAFE = frozenset("\"'\\$`;&|<>(){}\x7f") | frozenset(chr(code) for code in range(32))


def _variable(key):
    return "oom_protect_%s" % key


def _type_name(value):
    """The user's word for a value's type (not the class names of Ansible's lazy templating)."""
    for kind, word in ((bool, "a bool"), (int, "an int"), (float, "a float"), (str, "a str"), (dict, "a dict")):
        if isinstance(value, kind):
            return word
    if isinstance(value, (list, tuple)):
        return "a list"
    return "null" if value is None else "a %s" % type(value).__name__


def check_variables(policy):
    """Check and convert the role's scalar variables in C(policy); return (converted copy, [message, ...]).

    Only keys present in C(policy) are checked, so that callers may pass a part of the variables.
    """
    converted = dict(policy)
    errors = []
    if "state" in policy and policy["state"] not in STATES:
        errors.append("%s must be present or absent, got %r" % (_variable("state"), policy["state"]))
    for key in BOOL_VARIABLES:
        if key in policy:
            try:
                converted[key] = check_type_bool(policy[key])
            except TypeError:
                errors.append(
                    "%s must be true or false, got %s (%r)" % (_variable(key), _type_name(policy[key]), policy[key])
                )
    for key, (lowest, highest) in INT_VARIABLES.items():
        if key not in policy:
            continue
        value = policy[key]
        try:
            if isinstance(value, (bool, float)):
                raise TypeError
            number = check_type_int(value)
        except (TypeError, ValueError):
            errors.append("%s must be a whole number, got %s (%r)" % (_variable(key), _type_name(value), value))
            continue
        if number < lowest or (highest is not None and number > highest):
            bounds = "from %d to %d" % (lowest, highest) if highest is not None else "%d or more" % lowest
            errors.append("%s must be %s, got %d" % (_variable(key), bounds, number))
            continue
        converted[key] = number
    if "state_file" in policy:
        path = policy["state_file"]
        if not isinstance(path, str) or not posixpath.isabs(path) or path.endswith("/") or "\x00" in path:
            errors.append(
                "%s must be the absolute path of a file, got %s (%s)"
                % (_variable("state_file"), _type_name(path), printable(repr(path)))
            )
    for key in ("never_touch", "oomd_pressure_slices"):
        if key in policy and (
            not isinstance(policy[key], list) or not all(isinstance(item, str) and item for item in policy[key])
        ):
            errors.append("%s must be a list of unit names, got %s" % (_variable(key), _type_name(policy[key])))
        elif key == "oomd_pressure_slices" and key in policy:
            for name in policy[key]:
                try:
                    split_unit_name(name)
                except UnitNameError as exc:
                    errors.append("%s: %s" % (_variable(key), exc))
                    continue
                if unit_type(name) != "slice":
                    errors.append("%s: %s is not a slice" % (_variable(key), printable(name)))
    if "oomd_pressure_limit" in policy:
        limit = policy["oomd_pressure_limit"]
        if not isinstance(limit, str) or not _PERCENT.match(limit):
            errors.append(
                "%s must be a percentage with up to two decimals such as '50%%', got %s (%s)"
                % (_variable("oomd_pressure_limit"), _type_name(limit), printable(repr(limit)))
            )
    if "earlyoom_args" in policy:
        args = policy["earlyoom_args"]
        if not isinstance(args, str):
            errors.append("%s must be a str, got %s" % (_variable("earlyoom_args"), _type_name(args)))
        elif _EARLYOOM_ARGS_UNSAFE.intersection(args):
            errors.append(
                "%s %s: use options and values without quotes, backslashes, shell characters or line breaks "
                "(it is written into %s, which a shell may read)"
                % (_variable("earlyoom_args"), printable(repr(args)), EARLYOOM_DEFAULT_FILE)
            )
    return converted, errors


# -- the policy variables -------------------------------------------------------------------------------------


def _check_keys(what, entry, allowed):
    if not isinstance(entry, dict):
        raise PolicyError("%s must be a dict, got %s" % (what, _type_name(entry)))
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise PolicyError(
            "%s has unknown keys %s; allowed: %s" % (what, ", ".join(unknown), ", ".join(sorted(allowed)))
        )


def _as_score(what, value):
    """An oom_score_adj as an int; a string of digits counts, as it does for the argument spec."""
    try:
        if isinstance(value, (bool, float)):
            raise TypeError
        number = check_type_int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not -1000 <= number <= 1000:
        raise PolicyError("%s: oom_score_adj must be an integer from -1000 to 1000, got %r" % (what, value))
    return number


def _check_score(what, value, allow_unkillable):
    value = _as_score(what, value)
    if value == -1000 and not allow_unkillable:
        return (
            "%s: oom_score_adj -1000 makes processes unkillable by the OOM killer; set oom_protect_allow_unkillable "
            "to allow it, or use -999" % what
        )
    return None


def _check_memory(what, key, value):
    if value is None:
        return
    try:
        parsed = parse_memory_value(value)
    except SizeError as exc:
        raise PolicyError("%s: %s: %s" % (what, key, exc)) from None
    if parsed.kind == "bytes" and parsed.amount >= U64_MAX:
        raise PolicyError("%s: %s: %r is too large; use infinity" % (what, key, value))


def _check_settings(what, entry, allow_unkillable, problems):
    """Check one class, service or process entry; converts its oom_score_adj to an int in place."""
    for key in MEMORY_KEYS:
        _check_memory(what, key, entry.get(key))
    if entry.get("oom_score_adj") is not None:
        problem = _check_score(what, entry["oom_score_adj"], allow_unkillable)
        entry["oom_score_adj"] = _as_score(what, entry["oom_score_adj"])
        if problem:
            problems.append(problem)
    if entry.get("oom_policy") is not None and entry["oom_policy"] not in OOM_POLICIES:
        raise PolicyError(
            "%s: oom_policy must be one of %s, got %r" % (what, ", ".join(OOM_POLICIES), entry["oom_policy"])
        )
    if entry.get("killer_preference") is not None and entry["killer_preference"] not in KILLER_PREFERENCES:
        raise PolicyError(
            "%s: killer_preference must be one of %s, got %r"
            % (what, ", ".join(KILLER_PREFERENCES), entry["killer_preference"])
        )


def merge_classes(overrides):
    """Return the built-in classes with C(overrides) applied key by key (a new class needs oom_score_adj)."""
    classes = {name: dict(settings) for name, settings in DEFAULT_CLASSES.items()}
    if overrides is None:
        return classes
    if not isinstance(overrides, dict):
        raise PolicyError("oom_protect_classes must be a dict of class name to settings")
    for name, settings in overrides.items():
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_-]{1,64}$", name):
            raise PolicyError("class name %r: use up to 64 letters, digits, '_' and '-'" % (name,))
        _check_keys("class %s" % name, settings, CLASS_KEYS)
        merged = classes.setdefault(name, {})
        merged.update({key: value for key, value in settings.items() if value is not None})
        if merged.get("oom_score_adj") is None:
            raise PolicyError("class %s needs oom_score_adj (it is not a built-in class)" % name)
        merged.setdefault("killer_preference", "none")
    return classes


def validate_policy(policy):
    """Check the policy variables; return (classes, services, processes, problems).

    Raises PolicyError for input that is wrong whatever the host (a typo, a bad size). C(problems) lists guard
    rails the policy breaks on every host (oom_score_adj -1000 without allow_unkillable).
    """
    allow_unkillable = bool(policy.get("allow_unkillable"))
    classes = merge_classes(policy.get("classes"))
    problems = []
    for name, settings in sorted(classes.items()):
        _check_settings("class %s" % name, settings, allow_unkillable, problems)
    services = policy.get("services") or []
    processes = policy.get("processes") or []
    if not isinstance(services, list):
        raise PolicyError("oom_protect_services must be a list, got %s" % _type_name(services))
    if not isinstance(processes, list):
        raise PolicyError("oom_protect_processes must be a list, got %s" % _type_name(processes))
    # copies: the checks convert values (oom_score_adj "-900" to -900), the caller's variables stay as they are
    services = [dict(entry) if isinstance(entry, dict) else entry for entry in services]
    processes = [dict(entry) if isinstance(entry, dict) else entry for entry in processes]
    for index, entry in enumerate(services):
        what = "oom_protect_services[%d]" % index
        _check_keys(what, entry, SERVICE_KEYS)
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise PolicyError("%s needs a name: a unit name or a glob such as 'worker@*.service'" % what)
        what = "%s (%s)" % (what, name)
        if not any(char in name for char in "*?["):
            try:
                split_unit_name(name)
            except UnitNameError as exc:
                raise PolicyError("%s: %s" % (what, exc)) from None
        elif not re.match(r"^[A-Za-z0-9:_.\\@*?\[\]!-]{1,255}$", name):
            raise PolicyError("%s: a unit glob may hold unit name characters and * ? [ ] only" % what)
        if entry.get("class") not in classes:
            raise PolicyError(
                "%s: class %r is not defined (classes: %s)" % (what, entry.get("class"), ", ".join(sorted(classes)))
            )
        names = entry.get("process_names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise PolicyError("%s: process_names must be a list of process names" % what)
        _check_settings(what, entry, allow_unkillable, problems)
    for index, entry in enumerate(processes):
        what = "oom_protect_processes[%d]" % index
        _check_keys(what, entry, PROCESS_KEYS)
        pattern = entry.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise PolicyError("%s needs a pattern: a regular expression on the command line" % what)
        if len(pattern) > PATTERN_MAX:
            raise PolicyError("%s: the pattern is longer than %d characters" % (what, PATTERN_MAX))
        try:
            re.compile(pattern)
        except re.error as exc:
            raise PolicyError("%s: pattern %r is not a valid regular expression: %s" % (what, pattern, exc)) from None
        what = "%s (%s)" % (what, entry.get("name") or pattern)
        if entry.get("class") not in classes:
            raise PolicyError(
                "%s: class %r is not defined (classes: %s)" % (what, entry.get("class"), ", ".join(sorted(classes)))
            )
        _check_settings(what, entry, allow_unkillable, problems)
    if policy.get("userspace_killer", "none") not in KILLERS:
        raise PolicyError("oom_protect_userspace_killer must be one of %s" % ", ".join(KILLERS))
    if not services and not processes and policy.get("userspace_killer", "none") == "none":
        # Most often a misspelt variable name or group_vars that did not apply: applying "nothing" would put back
        # every unit an earlier run protected.
        problems.append(
            "the policy is empty: oom_protect_services and oom_protect_processes are empty and "
            "oom_protect_userspace_killer is none, so there is nothing to apply (a misspelt variable name, or "
            "group_vars that did not apply to this host?); to remove an earlier policy, run with "
            "oom_protect_state=absent (playbooks/unprotect.yml)"
        )
    return classes, services, processes, problems


# -- per host ---------------------------------------------------------------------------------------------------


def is_glob(name):
    return any(char in name for char in "*?[")


def unit_type(unit):
    return unit.rpartition(".")[2]


def resolve_size(value, ram_bytes):
    """Bytes for a size or percentage of RAM (rounded down to whole pages), 'infinity', or None."""
    if value is None:
        return None
    parsed = parse_memory_value(value)
    if parsed.kind == "infinity":
        return "infinity"
    size = resolve(parsed, ram_bytes)
    if size is None:
        return None
    return size - size % PAGE if parsed.kind == "percent" else size


def _as_bytes(value):
    """Sizes in facts are int bytes, 'infinity' or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def is_gke_node(facts, labels):
    if GKE_LABEL in (labels or {}):
        return True
    if "kubelet.service" in (facts.get("units") or {}):
        return True
    return any(process.get("comm") == "kubelet" for process in facts.get("processes") or [])


def ere_alternation(names):
    """A POSIX extended regex matching exactly these process names, without quotes or backslashes."""
    escaped = []
    for name in names:
        escaped.append("".join("[%s]" % char if char in ".+" else char for char in name))
    return "^(%s)$" % "|".join(escaped)


def earlyoom_args(base_args, avoid, prefer):
    """The EARLYOOM_ARGS value: the base options, then --avoid/--prefer regexes of process names."""
    parts = [base_args.strip()] if base_args and base_args.strip() else []
    if avoid:
        parts.append("--avoid '%s'" % ere_alternation(avoid))
    if prefer:
        parts.append("--prefer '%s'" % ere_alternation(prefer))
    return " ".join(parts)


def render_earlyoom_default(args, avoid, prefer):
    """The whole /etc/default/earlyoom the role writes (Debian's earlyoom.service reads EARLYOOM_ARGS from it)."""
    lines = [
        "# Managed by Ansible (oomguard.memory.oom_protect). Local changes will be overwritten.",
        "# --avoid: %s" % (", ".join(avoid) or "none"),
        "# --prefer: %s" % (", ".join(prefer) or "none"),
        'EARLYOOM_ARGS="%s"' % args,
    ]
    return "\n".join(lines) + "\n"


def _settings_for(entry, klass, ram_bytes):
    settings = {}
    for key in MEMORY_KEYS:
        value = entry.get(key, klass.get(key))
        if value is not None:
            settings[key] = resolve_size(value, ram_bytes)
    return settings


def _process_probe_index(probes):
    """{pattern: probe result} from the role's check-mode oom_score_adj loop (items carry the pattern)."""
    index = {}
    for result in probes or []:
        item = result.get("item") or {}
        pattern = item.get("pattern") if isinstance(item, dict) else None
        if pattern is not None:
            index[pattern] = result
    return index


class _Host:
    """Resolution of the policy against one host's facts; collects violations instead of stopping at the first."""

    def __init__(self, facts, policy, classes, host, labels):
        self.facts = facts or {}
        self.policy = policy
        self.classes = classes
        self.host = host
        self.labels = labels or {}
        self.violations = []
        self.warnings = []
        self.excluded = []
        memory = self.facts.get("memory") or {}
        total_kb = memory.get("MemTotal")
        self.ram_bytes = total_kb * 1024 if isinstance(total_kb, int) and total_kb > 0 else None
        self.swap_bytes = (memory.get("SwapTotal") or 0) * 1024
        self.units = self.facts.get("units") or {}
        self.never_touch = list(policy.get("never_touch") or DEFAULT_NEVER_TOUCH)

    def violation(self, message):
        self.violations.append(message)

    def untouchable(self, unit):
        return any(fnmatch.fnmatchcase(unit, pattern) for pattern in self.never_touch)

    # -- units ----------------------------------------------------------------------------------------------

    def claims(self, services):
        """{unit: [entry index, ...]} for the loaded units each service entry names or matches."""
        claimed = {}
        for index, entry in enumerate(services):
            name = entry["name"]
            if is_glob(name):
                found = sorted(unit for unit in self.units if fnmatch.fnmatchcase(unit, name))
            else:
                found = [name] if name in self.units else []
            if not found:
                self.warnings.append(
                    "oom_protect_services[%d] (%s) matches no loaded unit on this host" % (index, name)
                )
            for unit in found:
                if self.untouchable(unit):
                    if is_glob(name):
                        self.excluded.append({"unit": unit, "reason": "never touched (oom_protect_never_touch)"})
                        continue
                    self.violation(
                        "%s is never touched by a policy (Google's guest agents keep their own -999, the kubelet owns "
                        "its values); remove it from oom_protect_services" % unit
                    )
                    continue
                if unit_type(unit) not in CGROUP_TYPES:
                    if is_glob(name):
                        self.excluded.append({"unit": unit, "reason": "a .%s unit has no cgroup" % unit_type(unit)})
                        continue
                    self.violation(
                        "%s: a .%s unit has no cgroup, so no memory or OOM setting applies to it"
                        % (unit, unit_type(unit))
                    )
                    continue
                claimed.setdefault(unit, []).append(index)
        return claimed

    def resolve_unit(self, unit, entry, index):
        klass = self.classes[entry["class"]]
        kind = unit_type(unit)
        what = "%s (oom_protect_services[%d], class %s)" % (unit, index, entry["class"])
        resolved = {
            "unit": unit,
            "entry": index,
            "class": entry["class"],
            "killer_preference": klass.get("killer_preference", "none"),
        }
        settings = _settings_for(entry, klass, self.ram_bytes)
        adj = entry.get("oom_score_adj", klass.get("oom_score_adj"))
        if adj is not None:
            if kind in EXEC_TYPES:
                settings["oom_score_adjust"] = adj
            elif entry.get("oom_score_adj") is not None:
                self.violation("%s: OOMScoreAdjust= applies to .%s units only" % (what, ", .".join(EXEC_TYPES)))
        oom_policy = entry.get("oom_policy", klass.get("oom_policy"))
        if oom_policy is not None:
            if kind in OOM_POLICY_TYPES:
                settings["oom_policy"] = oom_policy
            else:
                self.violation("%s: OOMPolicy= applies to .service and .scope units only" % what)
        self.check_sizes(what, settings, self.units.get(unit) or {})
        resolved["settings"] = settings
        resolved["process_names"] = list(entry.get("process_names") or [])
        return resolved

    def check_sizes(self, what, settings, current):
        sizes = {key: settings.get(key) for key in MEMORY_KEYS if isinstance(settings.get(key), int)}
        for key, size in sizes.items():
            if key == "memory_swap_max":
                continue
            if self.ram_bytes is not None and size > self.ram_bytes:
                self.violation(
                    "%s: %s %s is larger than the host's RAM (%s)" % (what, key, human(size), human(self.ram_bytes))
                )
        in_use = _as_bytes(current.get("MemoryCurrent"))
        for key in ("memory_max", "memory_high"):
            if key in sizes and in_use is not None and sizes[key] < in_use:
                self.violation(
                    "%s: %s %s is below the unit's current use (%s): the kernel would reclaim or kill at once"
                    % (what, key, human(sizes[key]), human(in_use))
                )
        for lower, upper in (
            ("memory_min", "memory_low"),
            ("memory_low", "memory_high"),
            ("memory_high", "memory_max"),
            ("memory_min", "memory_max"),
        ):
            if lower in sizes and upper in sizes and sizes[lower] > sizes[upper]:
                self.violation(
                    "%s: %s (%s) must not exceed %s (%s)"
                    % (what, lower, human(sizes[lower]), upper, human(sizes[upper]))
                )

    # -- processes --------------------------------------------------------------------------------------------

    def resolve_processes(self, processes, probes):
        index = _process_probe_index(probes)
        rules = []
        owners = {}
        for number, entry in enumerate(processes):
            klass = self.classes[entry["class"]]
            adj = entry.get("oom_score_adj", klass.get("oom_score_adj"))
            what = "oom_protect_processes[%d] (%s, class %s)" % (
                number,
                entry.get("name") or entry["pattern"],
                entry["class"],
            )
            rule = {
                "entry": number,
                "pattern": entry["pattern"],
                "class": entry["class"],
                "oom_score_adj": adj,
                "killer_preference": klass.get("killer_preference", "none"),
                "matched": [],
            }
            for key in MEMORY_KEYS:
                if klass.get(key) is not None:
                    self.warnings.append("%s: %s of the class applies to units only, not to processes" % (what, key))
            probe = index.get(entry["pattern"])
            if probe is not None:
                if probe.get("failed"):
                    self.violation(
                        "%s: %s" % (what, printable(probe.get("msg") or "the check-mode run of oom_score_adj failed"))
                    )
                for process in probe.get("processes") or []:
                    matched = {"pid": process["pid"], "comm": process.get("comm", ""), "before": process.get("before")}
                    rule["matched"].append(matched)
                    owners.setdefault(process["pid"], []).append(number)
                    if matched["comm"] in NEVER_TOUCH_COMMS:
                        self.violation(
                            "%s matches pid %d (%s), an agent that keeps its own oom_score_adj; narrow the pattern"
                            % (what, process["pid"], matched["comm"])
                        )
            rules.append(rule)
        for pid, numbers in sorted(owners.items()):
            if len(numbers) > 1:
                self.violation(
                    "pid %d is matched by more than one entry: %s"
                    % (pid, ", ".join("oom_protect_processes[%d]" % n for n in numbers))
                )
        return rules

    # -- userspace killer -------------------------------------------------------------------------------------

    def killer(self, name, units, rules):
        killer = {"name": name, "slices": [], "earlyoom": None}
        if name == "none":
            return killer
        if not self.facts.get("systemd_running"):
            self.violation(
                "oom_protect_userspace_killer=%s needs systemd as the init system; this host has none" % name
            )
        if name == "systemd-oomd":
            if self.facts.get("cgroup_version") != "2":
                self.violation(
                    "systemd-oomd needs the unified cgroup v2 hierarchy; this host has cgroup %s"
                    % self.facts.get("cgroup_version")
                )
            for unit in units:
                if unit["killer_preference"] == "avoid" and unit_type(unit["unit"]) in MANAGED_OOM_TYPES:
                    unit["settings"]["managed_oom_preference"] = "avoid"
            limit = self.policy.get("oomd_pressure_limit") or "50%"
            for slice_name in self.policy.get("oomd_pressure_slices") or ["system.slice"]:
                settings = {"managed_oom_memory_pressure": "kill", "managed_oom_memory_pressure_limit": limit}
                killer["slices"].append({"unit": slice_name, "settings": settings})
            if self.swap_bytes > 0:
                killer["slices"].append({"unit": "-.slice", "settings": {"managed_oom_swap": "kill"}})
            claimed = {unit["unit"] for unit in units}
            for item in killer["slices"]:
                if item["unit"] in claimed:
                    self.violation(
                        "%s is both in oom_protect_services and a slice that systemd-oomd watches; keep it in one place"
                        % item["unit"]
                    )
            return killer
        by_preference = {"avoid": set(), "prefer": set()}
        seen = {}
        for process in self.facts.get("processes") or []:
            if process.get("unit"):
                seen.setdefault(process["unit"], set()).add(process.get("comm") or "")
        for unit in units:
            if unit["killer_preference"] in by_preference:
                by_preference[unit["killer_preference"]] |= seen.get(unit["unit"], set()) | set(unit["process_names"])
        for rule in rules:
            if rule["killer_preference"] in by_preference:
                by_preference[rule["killer_preference"]] |= {process["comm"] for process in rule["matched"]}
        both = by_preference["avoid"] & by_preference["prefer"]
        if both:
            self.warnings.append(
                "earlyoom: process names %s are in both an avoid and a prefer class; earlyoom matches names only, so "
                "they get neither" % ", ".join(sorted(both))
            )
        lists = {}
        for key, names in by_preference.items():
            kept = []
            for name in sorted(names - both):
                if not name:
                    continue
                if _EARLYOOM_NAME.match(name):
                    kept.append(name)
                else:
                    self.warnings.append("earlyoom: process name %r cannot go into --%s safely; skipped" % (name, key))
            lists[key] = kept
        args = earlyoom_args(self.policy.get("earlyoom_args", "-r 3600"), lists["avoid"], lists["prefer"])
        killer["earlyoom"] = {
            "avoid": lists["avoid"],
            "prefer": lists["prefer"],
            "args": args,
            "path": EARLYOOM_DEFAULT_FILE,
            "content": render_earlyoom_default(args, lists["avoid"], lists["prefer"]),
        }
        return killer

    # -- what the host's systemd_memory refuses ---------------------------------------------------------------

    def unit_probe_checks(self, unit_probes):
        """Violations from the role's check-mode systemd_memory run of each unit: what this host would refuse."""
        for result in unit_probes or []:
            item = result.get("item") or {}
            unit = item.get("unit") if isinstance(item, dict) else None
            if not unit:
                continue
            if result.get("failed"):
                self.violation(
                    "%s: %s"
                    % (unit, printable(result.get("msg") or "the check-mode run of systemd_memory failed", 400))
                )
                continue
            for entry in result.get("unsupported") or []:
                self.violation(
                    "%s: %s= needs systemd %s or later for .%s units; this host runs systemd %s, which would ignore it"
                    % (unit, entry.get("directive"), entry.get("needs"), unit_type(unit), entry.get("systemd"))
                )

    # -- host-wide guard rails --------------------------------------------------------------------------------

    def host_checks(self, units):
        sysctl = self.facts.get("sysctl") or {}
        panic = sysctl.get("vm.panic_on_oom")
        if panic not in (None, 0, "0"):
            self.violation(
                "vm.panic_on_oom=%s: every OOM panics the kernel (a reboot after kernel.panic=%s s on GCE images) "
                "and no oom_score_adj is ever used; set it to 0 first (oom_protect never sets it)"
                % (panic, sysctl.get("kernel.panic"))
            )
        critical = [unit["unit"] for unit in units if unit["class"] == CRITICAL_CLASS]
        max_critical = self.policy.get("max_critical")
        if max_critical is not None and len(critical) > max_critical:
            self.violation(
                "critical units on this host: %d (%s), more than oom_protect_max_critical=%d; when everything is "
                "critical, nothing is" % (len(critical), ", ".join(critical), max_critical)
            )
        share = self.policy.get("max_protected_percent")
        if self.ram_bytes is not None and share is not None:
            protected = 0
            for unit in units:
                amounts = [unit["settings"].get(key) for key in ("memory_min", "memory_low")]
                protected += max([size for size in amounts if isinstance(size, int)] or [0])
            if protected > self.ram_bytes * share / 100:
                self.violation(
                    "MemoryMin=/MemoryLow= protect %s in all, more than oom_protect_max_protected_percent=%s%% of the "
                    "host's RAM (%s): the kernel could not reclaim enough memory for everything else"
                    % (human(protected), share, human(self.ram_bytes))
                )


def _unit_state(previous, units, facts_units):
    """Per unit: the OOMScoreAdjust= systemd had before the role first changed it (earliest record wins)."""
    earlier = (previous or {}).get("units") or {}
    recorded = {}
    for unit in units:
        props = facts_units.get(unit) or {}
        recorded[unit] = earlier.get(unit) or {"oom_score_adjust": props.get("OOMScoreAdjust")}
    return recorded


def _process_state(previous, rules):
    """Per pid matched now: the oom_score_adj it had before the role first changed it (earliest record wins)."""
    before = {}
    for pid, record in ((previous or {}).get("processes") or {}).items():
        before[str(pid)] = record
    state = {}
    for rule in rules:
        for process in rule["matched"]:
            key = str(process["pid"])
            state[key] = before.get(key) or {
                "comm": process["comm"],
                "pattern": rule["pattern"],
                "before": process["before"],
            }
    return state


def killer_state(previous, killer_name, probe):
    """What the userspace killer looked like before the role first configured it (earliest record wins)."""
    recorded = (previous or {}).get("killer")
    if recorded:
        return recorded
    if killer_name == "none":
        return None
    probe = probe or {}
    content = probe.get("earlyoom_default")
    state = {
        "name": killer_name,
        "package_installed": bool(probe.get("package_installed")),
        "enabled": probe.get("enabled"),
        "active": bool(probe.get("active")),
        "earlyoom_default": content,
    }
    if killer_name == "systemd-oomd":
        # starting the service starts its socket; a rollback stops the socket again when it did not listen before
        socket_active = probe.get("socket_active")
        state["socket_active"] = None if socket_active is None else bool(socket_active)
    return state


def resolve_policy(
    facts, policy, host="", labels=None, probes=None, previous_state=None, killer_probe=None, unit_probes=None
):
    """Resolve the policy for one host.

    C(facts) is C(ansible_facts.oom) (contract 1.1); C(policy) holds the role's variables without the
    C(oom_protect_) prefix (classes, services, processes, userspace_killer, allow_unkillable, max_critical,
    max_protected_percent, skip_gke_nodes, never_touch, oomd_pressure_slices, oomd_pressure_limit,
    earlyoom_args, and the role's other variables, which are only checked: state, restart_ok, manage_packages,
    state_file, preview_top, facts_top_processes); C(labels) are the VM's labels (gcp_compute host var);
    C(probes) the results of the role's check-mode C(oom_score_adj) loop over the process rules; C(previous_state)
    the host's state file; C(killer_probe) what the role found of the userspace killer on the host; C(unit_probes)
    the results of the role's check-mode C(systemd_memory) loop over the plan's units and slices.

    Returns the plan: units and slices for systemd_memory, process rules for oom_score_adj, the killer's
    configuration, C(violations) (guard rails this host breaks), C(variable_errors) (the part of them that is about
    the role's variables, which stop O(state=absent) as well), C(warnings), C(excluded), C(skip) (why the host is
    left alone, or None) and C(state) (the rollback record to write before changing anything).
    """
    plan = {
        "policy_version": POLICY_VERSION,
        "host": host,
        "skip": None,
        "ram_bytes": None,
        "units": [],
        "processes": [],
        "killer": {"name": "none", "slices": [], "earlyoom": None},
        "violations": [],
        "variable_errors": [],
        "warnings": [],
        "excluded": [],
        "state": None,
    }
    policy, variable_errors = check_variables(policy)
    plan["variable_errors"] = variable_errors
    plan["violations"].extend(variable_errors)
    try:
        classes, services, processes, problems = validate_policy(policy)
    except PolicyError as exc:
        plan["violations"].append("policy: %s" % exc)
        return plan
    plan["violations"].extend(problems)
    if variable_errors:
        return plan
    if not isinstance(facts, dict) or facts.get("memory") is None:
        plan["violations"].append("no oom_facts from this host: the policy cannot be checked against it")
        return plan
    resolver = _Host(facts, policy, classes, host, labels)
    plan["ram_bytes"] = resolver.ram_bytes
    if resolver.ram_bytes is None:
        resolver.violation("MemTotal is missing from the facts: percentages of RAM cannot be resolved")
    if is_gke_node(facts, labels):
        if policy.get("skip_gke_nodes", True):
            plan["skip"] = (
                "GKE node: the kubelet owns oom_score_adj of everything it runs (set oom_protect_skip_gke_nodes=false "
                "to apply the policy to the node's own services anyway)"
            )
            return plan
        resolver.warnings.append(
            "GKE node: the policy is applied to the node's services; kubelet-managed processes are refused"
        )
    claimed = resolver.claims(services)
    units = []
    for unit, indexes in sorted(claimed.items()):
        if len(indexes) > 1:
            resolver.violation(
                "%s is claimed by more than one entry: %s"
                % (unit, ", ".join("oom_protect_services[%d] (%s)" % (i, services[i]["name"]) for i in indexes))
            )
            continue
        units.append(resolver.resolve_unit(unit, services[indexes[0]], indexes[0]))
    rules = resolver.resolve_processes(processes, probes)
    resolver.host_checks(units)
    killer = resolver.killer(policy.get("userspace_killer") or "none", units, rules)
    resolver.unit_probe_checks(unit_probes)
    plan.update(
        {
            "units": units,
            "processes": rules,
            "killer": killer,
            "violations": plan["violations"] + resolver.violations,
            "warnings": resolver.warnings,
            "excluded": resolver.excluded,
        }
    )
    recorded_killer = ((previous_state or {}).get("killer") or {}).get("name")
    if recorded_killer and killer["name"] not in ("none", recorded_killer):
        plan["violations"].append(
            "the userspace killer was %s on an earlier run and is %s now; run with oom_protect_state=absent first, so "
            "that the rollback record stays exact" % (recorded_killer, killer["name"])
        )
    touched = [unit["unit"] for unit in units] + [item["unit"] for item in killer["slices"]]
    plan["state"] = {
        "version": STATE_VERSION,
        "units": _unit_state(previous_state, touched, resolver.units),
        "processes": _process_state(previous_state, rules),
        "killer": killer_state(previous_state, killer["name"], killer_probe),
    }
    # Units an earlier run changed that the policy no longer claims: their records stay in the file written before
    # any change (state_with_stale), and go once the role has put them back (state).
    earlier_units = (previous_state or {}).get("units") or {}
    plan["stale_units"] = sorted(set(earlier_units) - set(touched))
    plan["state_with_stale"] = dict(plan["state"], units=dict(plan["state"]["units"]))
    plan["state_with_stale"]["units"].update({unit: earlier_units[unit] for unit in plan["stale_units"]})
    return plan


def restore_plan(state, probes=None):
    """What C(oom_protect_state=absent) puts back, from the state file and the check-mode probes of the rules.

    A recorded pid is restored only while a rule still matches it (the probe found it), so a pid that the kernel
    gave to another process since is left alone. Returns units (with the OOMScoreAdjust= to put back on their
    running processes), groups of pids per value, and the killer record.
    """
    state = state or {}
    units = []
    for unit, record in sorted((state.get("units") or {}).items()):
        units.append({"unit": unit, "oom_score_adjust": (record or {}).get("oom_score_adjust")})
    still_matched = set()
    for result in probes or []:
        for process in result.get("processes") or []:
            still_matched.add(str(process["pid"]))
    groups = {}
    for pid, record in sorted((state.get("processes") or {}).items()):
        if pid in still_matched and isinstance(record.get("before"), int):
            groups.setdefault(record["before"], []).append(int(pid))
    patterns = sorted(
        {record.get("pattern") for record in (state.get("processes") or {}).values() if record.get("pattern")}
    )
    return {
        "units": units,
        "process_groups": [{"value": value, "pids": pids} for value, pids in sorted(groups.items())],
        "patterns": patterns,
        "killer": state.get("killer"),
    }


def collect_violations(hostvars, hosts, plan_var="__oom_protect_plan", key="violations"):
    """Every violation of every host, one line each ("host: message"), hosts in the order given.

    C(key) is the list of the plans to collect: C(violations) (every guard rail) or C(variable_errors) (only the
    role's variables, for a rollback). A host without a plan (its facts failed, its variables were refused, or it is
    unreachable) is a violation itself: the preflight must see every host of the play before any host is changed.
    """
    lines = []
    for host in hosts:
        variables = hostvars.get(host) or {}
        plan = variables.get(plan_var)
        if not isinstance(plan, dict):
            lines.append(
                "%s: no policy plan (its variables were refused, its facts could not be gathered, or it is in a "
                "later serial batch: the preflight needs every host in one batch); nothing is changed on any host"
                % host
            )
            continue
        for message in plan.get(key) or []:
            lines.append("%s: %s" % (host, message))
    return lines


def printable(text, limit=200):
    """Text from a host, cut and stripped of control characters, for messages."""
    text = "".join(char if char in string.printable and char not in "\r\n\t\x0b\x0c" else "?" for char in str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."

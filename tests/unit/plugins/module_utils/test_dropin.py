# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import re
import stat

import pytest

from ansible_collections.oomguard.memory.plugins.module_utils._dropin import (
    MARKER,
    MEMORY_DROPIN_NAME,
    OOM_SCORE_ADJ_DROPIN_NAME,
    OPTIONS,
    READ_MAX,
    DropinError,
    DropinFile,
    build_directives,
    dropin_path,
    expected_property,
    host_warnings,
    is_managed,
    parse_dropin,
    render_dropin,
    render_score_dropin,
    section_for,
    unsupported_settings,
    validate_dropin_name,
)

GiB = 1024**3
MEMTOTAL = 16 * GiB


def params(**given):
    values = dict.fromkeys(OPTIONS)
    values.update(given)
    return values


@pytest.mark.parametrize(
    "name", [MEMORY_DROPIN_NAME, OOM_SCORE_ADJ_DROPIN_NAME, "10-limits.conf", "a.conf", "x_y@z+1.conf"]
)
def test_valid_dropin_names(name):
    validate_dropin_name(name)


@pytest.mark.parametrize(
    "name, message",
    [
        ("override.conf", "reserved for administrators"),
        ("99-override.conf", "reserved for administrators"),
        ("limits", "ending in '.conf'"),
        ("../../passwd.conf", "not valid"),
        ("sub/x.conf", "not valid"),
        (".hidden.conf", "not valid"),
        ("a b.conf", "not valid"),
        ("", "not valid"),
        ("x.conf;reboot", "not valid"),
    ],
)
def test_invalid_dropin_names(name, message):
    with pytest.raises(DropinError, match=message):
        validate_dropin_name(name)


def test_section_for():
    assert section_for("a.service", "service") == "Service"
    assert section_for("a.slice", "slice") == "Slice"
    assert section_for("a.scope", "scope") == "Scope"
    with pytest.raises(DropinError, match=r"a\.target is a \.target unit, which has no control group"):
        section_for("a.target", "target")


def test_dropin_path():
    assert dropin_path("/etc/systemd/system", "a.service", "x.conf") == "/etc/systemd/system/a.service.d/x.conf"


def test_build_directives_all_settings_in_fixed_order():
    directives, resolved = build_directives(
        params(
            managed_oom_preference="avoid",
            memory_min="256M",
            oom_policy="stop",
            memory_max="75%",
            memory_high="8G",
            memory_low="1073741824",
            memory_swap_max="infinity",
            oom_score_adjust=-500,
            managed_oom_memory_pressure="kill",
            managed_oom_memory_pressure_limit="40.5%",
            managed_oom_swap="auto",
        ),
        "app.service",
        "service",
        MEMTOTAL,
    )
    assert directives == [
        ("MemoryMax", "75%"),
        ("MemoryHigh", "8G"),
        ("MemoryLow", "1G"),
        ("MemoryMin", "256M"),
        ("MemorySwapMax", "infinity"),
        ("OOMPolicy", "stop"),
        ("OOMScoreAdjust", "-500"),
        ("ManagedOOMMemoryPressure", "kill"),
        ("ManagedOOMMemoryPressureLimit", "40.5%"),
        ("ManagedOOMSwap", "auto"),
        ("ManagedOOMPreference", "avoid"),
    ]
    assert resolved == {
        "memory_max": 12 * GiB,
        "memory_high": 8 * GiB,
        "memory_low": GiB,
        "memory_min": 256 * 1024**2,
        "memory_swap_max": 18446744073709551615,
    }


def test_swap_percentage_is_resolved_to_bytes():
    directives, resolved = build_directives(params(memory_swap_max="25%"), "a.service", "service", MEMTOTAL)
    assert directives == [("MemorySwapMax", "4G")]
    assert resolved == {"memory_swap_max": 4 * GiB}
    with pytest.raises(DropinError, match="memory_swap_max: cannot resolve 25% without MemTotal"):
        build_directives(params(memory_swap_max="25%"), "a.service", "service", None)


def test_percentages_without_memtotal_skip_the_order_check():
    directives, resolved = build_directives(params(memory_max="50%", memory_high="60%"), "a.service", "service", None)
    assert dict(directives) == {"MemoryMax": "50%", "MemoryHigh": "60%"}
    assert resolved == {"memory_max": None, "memory_high": None}


@pytest.mark.parametrize(
    "given, unit, unit_type, message",
    [
        ({"memory_max": "1X"}, "a.service", "service", "memory_max: expected a size"),
        ({"memory_high": "150%"}, "a.service", "service", "memory_high: a percentage cannot exceed 100%"),
        ({"memory_low": "-1G"}, "a.service", "service", "memory_low: expected a size"),
        ({"memory_min": ""}, "a.service", "service", "memory_min: an empty value"),
        ({"memory_swap_max": True}, "a.service", "service", "memory_swap_max: expected a size"),
        (
            {"memory_max": "1G", "memory_high": "2G"},
            "a.service",
            "service",
            r"memory_high \(2 GiB\) must not exceed memory_max \(1 GiB\)",
        ),
        (
            {"memory_high": "1G", "memory_low": "2G"},
            "a.service",
            "service",
            r"memory_low \(2 GiB\) must not exceed memory_high \(1 GiB\)",
        ),
        (
            {"memory_max": "1G", "memory_low": "2G"},
            "a.service",
            "service",
            r"memory_low \(2 GiB\) must not exceed memory_max \(1 GiB\)",
        ),
        (
            {"memory_max": "10%", "memory_min": "2G"},
            "a.service",
            "service",
            r"memory_min \(2 GiB\) must not exceed memory_max \(1.6 GiB\)",
        ),
        (
            {"memory_max": "1G", "memory_high": "infinity"},
            "a.service",
            "service",
            r"memory_high \(infinity\) must not exceed",
        ),
        ({"oom_score_adjust": 1001}, "a.service", "service", "oom_score_adjust must be an integer from -1000 to 1000"),
        ({"oom_score_adjust": -1001}, "a.service", "service", "oom_score_adjust must be an integer"),
        (
            {"oom_score_adjust": -100},
            "a.slice",
            "slice",
            r"oom_score_adjust \(OOMScoreAdjust=\) cannot be set on a.slice",
        ),
        ({"oom_policy": "stop"}, "a.socket", "socket", r"oom_policy \(OOMPolicy=\) cannot be set on a.socket"),
        ({"managed_oom_swap": "kill"}, "a.mount", "mount", "managed_oom_swap .* cannot be set on a.mount"),
        (
            {"managed_oom_memory_pressure_limit": "40"},
            "a.slice",
            "slice",
            "managed_oom_memory_pressure_limit: expected a percentage",
        ),
        ({"managed_oom_memory_pressure_limit": "100.5%"}, "a.slice", "slice", "cannot exceed 100%"),
    ],
)
def test_build_directives_errors(given, unit, unit_type, message):
    with pytest.raises(DropinError, match=message):
        build_directives(params(**given), unit, unit_type, MEMTOTAL)


def test_host_warnings_all_clear():
    directives = [("MemoryMax", "1G"), ("MemoryHigh", "800M"), ("ManagedOOMSwap", "kill")]
    assert host_warnings(directives, "a.service", "service", 252, "2", True) == []
    # unknown facts never warn
    assert host_warnings(directives, "a.service", "service", None, None, None) == []


def test_host_warnings_cgroup_v1_and_hybrid():
    directives = [("MemoryMax", "1G"), ("MemoryHigh", "800M"), ("MemoryLow", "1M"), ("MemoryMin", "1M")]
    for version in ("1", "hybrid"):
        messages = host_warnings(directives, "a.service", "service", 252, version, None)
        assert len(messages) == 3
        assert all("cgroup v1" in message for message in messages)
        assert not any(message.startswith("MemoryMax=") for message in messages)


def test_host_warnings_old_systemd():
    directives = [("MemoryMin", "1M"), ("OOMPolicy", "stop"), ("ManagedOOMPreference", "avoid")]
    messages = host_warnings(directives, "a.service", "service", 239, "2", True)
    assert [message.split("=")[0] for message in messages] == ["MemoryMin", "OOMPolicy", "ManagedOOMPreference"]
    assert "needs systemd 240 or later" in messages[0]
    assert "this host runs systemd 239" in messages[0]
    # OOMPolicy came to scopes later than to services
    assert host_warnings([("OOMPolicy", "kill")], "a.scope", "scope", 250, "2", None) == [
        "OOMPolicy= needs systemd 253 or later for .scope units; this host runs systemd 250, which ignores the key "
        "and logs 'Unknown key name'"
    ]


def test_host_warnings_without_oomd():
    directives = [("ManagedOOMMemoryPressure", "kill"), ("ManagedOOMMemoryPressureLimit", "40%")]
    messages = host_warnings(directives, "a.slice", "slice", 252, "2", False)
    assert messages == [
        "ManagedOOMMemoryPressure=, ManagedOOMMemoryPressureLimit= has no effect while systemd-oomd is not running; "
        "enable it with 'systemctl enable --now systemd-oomd.service'"
    ]


def test_host_warnings_pressure_limit_without_kill():
    messages = host_warnings([("ManagedOOMMemoryPressureLimit", "40%")], "a.slice", "slice", 252, "2", True)
    assert messages == [
        "ManagedOOMMemoryPressureLimit= is used only when ManagedOOMMemoryPressure=kill applies to a.slice"
    ]


def test_render_and_parse_round_trip():
    directives = [("MemoryMax", "1G"), ("OOMPolicy", "stop")]
    text = render_dropin("Service", directives, "oomguard.memory.systemd_memory")
    assert text == (
        "# Managed by Ansible (oomguard.memory.systemd_memory). Local changes will be overwritten.\n"
        "[Service]\n"
        "MemoryMax=1G\n"
        "OOMPolicy=stop\n"
    )
    assert render_dropin("Service", directives, "oomguard.memory.systemd_memory") == text  # deterministic
    assert is_managed(text)
    assert parse_dropin(text) == {"MemoryMax": "1G", "OOMPolicy": "stop"}
    assert parse_dropin("[Service]\n; comment\nMemoryMax = 2G\nMemoryMax=3G\nnonsense\n") == {"MemoryMax": "3G"}
    assert parse_dropin(None) == {}
    assert not is_managed("[Service]\nMemoryMax=1G\n")
    assert not is_managed(None)
    assert MARKER.startswith("# Managed by Ansible")


def test_expected_property():
    assert expected_property("MemoryMax", "1G", MEMTOTAL) == GiB
    assert expected_property("MemoryMax", "infinity", MEMTOTAL) == "infinity"
    assert expected_property("MemoryMax", "50%", MEMTOTAL) is None
    assert expected_property("OOMScoreAdjust", "-500", MEMTOTAL) == -500
    assert expected_property("OOMPolicy", "stop", MEMTOTAL) == "stop"
    assert expected_property("ManagedOOMMemoryPressureLimit", "40%", MEMTOTAL) is None


class Failed(Exception):
    pass


class FakeModule:
    """Just enough of AnsibleModule for DropinFile."""

    def __init__(self, check_mode=False):
        self.check_mode = check_mode
        self.params = {}
        self.backups = []

    def fail_json(self, **kwargs):
        raise Failed(kwargs["msg"])

    def backup_local(self, path):
        if not os.path.exists(path):
            return ""
        backup = path + ".bak~"
        with open(path, "rb") as src, open(backup, "wb") as dst:
            dst.write(src.read())
        self.backups.append(backup)
        return backup

    def atomic_move(self, src, dest, unsafe_writes=False):
        os.rename(src, dest)


def test_dropin_file_write_creates_dir_with_mode_and_leaves_no_temp(tmp_path):
    old_umask = os.umask(0o077)
    try:
        path = dropin_path(str(tmp_path), "a.service", MEMORY_DROPIN_NAME)
        dropin = DropinFile(FakeModule(), path)
        assert dropin.read() is None
        assert dropin.write("x\n") is None
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(tmp_path / "a.service.d").st_mode) == 0o755
    assert os.listdir(tmp_path / "a.service.d") == [MEMORY_DROPIN_NAME]
    assert dropin.read() == "x\n"


def test_dropin_file_backup_and_remove(tmp_path):
    module = FakeModule()
    path = dropin_path(str(tmp_path), "a.service", MEMORY_DROPIN_NAME)
    dropin = DropinFile(module, path)
    dropin.write("one\n")
    backup = dropin.write("two\n", backup=True)
    with open(backup) as handle:
        assert handle.read() == "one\n"
    dropin.remove()
    assert not os.path.exists(path)
    assert os.path.isdir(tmp_path / "a.service.d")  # the backup is still in it
    os.unlink(backup)
    dropin.write("three\n")
    dropin.remove()
    assert not os.path.exists(tmp_path / "a.service.d")  # empty: removed
    dropin.remove()  # already gone: no error


def test_dropin_file_remove_keeps_other_dropins(tmp_path):
    path = dropin_path(str(tmp_path), "a.service", MEMORY_DROPIN_NAME)
    dropin = DropinFile(FakeModule(), path)
    dropin.write("x\n")
    (tmp_path / "a.service.d" / "override.conf").write_text("[Service]\n")
    dropin.remove()
    assert os.listdir(tmp_path / "a.service.d") == ["override.conf"]


def test_dropin_file_refuses_missing_unit_dir(tmp_path):
    dropin = DropinFile(FakeModule(), dropin_path(str(tmp_path / "nope"), "a.service", MEMORY_DROPIN_NAME))
    with pytest.raises(Failed, match=r"unit directory .*nope does not exist"):
        dropin.write("x\n")


def test_dropin_file_ownership(tmp_path):
    dropin = DropinFile(FakeModule(), str(tmp_path / "x.conf"))
    dropin.check_ownership(None)
    dropin.check_ownership(render_dropin("Service", [], "oomguard.memory.oom_score_adj"))
    with pytest.raises(Failed, match=r"is not managed by oomguard\.memory"):
        dropin.check_ownership("[Service]\nMemoryMax=1G\n")


def test_dropin_file_diff_shape(tmp_path):
    dropin = DropinFile(FakeModule(), str(tmp_path / "a.service.d" / "x.conf"))
    diff = dropin.diff(None, "new\n")
    assert diff == {
        "before": "",
        "after": "new\n",
        "before_header": "%s (content)" % dropin.path,
        "after_header": "%s (content)" % dropin.path,
    }


def test_score_dropin_has_the_same_bytes_whoever_writes_it():
    text = render_score_dropin("db.service", "service", -900)
    assert text == (
        "# Managed by Ansible (oomguard.memory.oom_score_adj or oomguard.memory.systemd_memory). Local changes will "
        "be overwritten.\n[Service]\nOOMScoreAdjust=-900\n"
    )
    assert is_managed(text)
    assert render_score_dropin("web.socket", "socket", 5).splitlines()[1:] == ["[Socket]", "OOMScoreAdjust=5"]


def test_the_score_dropin_name_is_reserved_for_the_memory_dropin():
    validate_dropin_name(OOM_SCORE_ADJ_DROPIN_NAME)
    with pytest.raises(DropinError, match="is the drop-in that holds OOMScoreAdjust="):
        validate_dropin_name(OOM_SCORE_ADJ_DROPIN_NAME, reserved=(OOM_SCORE_ADJ_DROPIN_NAME,))


def test_dropin_path_refuses_relative_dirs_and_units_too_long_for_a_dropin_directory():
    with pytest.raises(DropinError, match="unit_dir 'etc' must be an absolute path"):
        dropin_path("etc", "a.service", "x.conf")
    longest = "a" * 245 + ".service"
    assert dropin_path("/etc/systemd/system", longest, "x.conf").endswith(longest + ".d/x.conf")
    with pytest.raises(DropinError, match=r"is 254 characters long: its drop-in directory UNIT\.d would be longer"):
        dropin_path("/etc/systemd/system", "a" + longest, "x.conf")


@pytest.mark.parametrize(
    "given, message",
    [
        ({"memory_max": 0}, "memory_max: 0 is out of range: systemd ignores MemoryMax=0"),
        ({"memory_max": "0%"}, "memory_max: '0%' is out of range"),
        ({"memory_high": "0.5"}, "memory_high: '0.5' is out of range"),  # rounds down to 0 bytes, as in systemd
        ({"memory_zswap_max": "x"}, "memory_zswap_max: expected a size"),
    ],
)
def test_zero_limits_are_refused(given, message):
    with pytest.raises(DropinError, match=re.escape(message)):
        build_directives(params(**given), "a.service", "service", MEMTOTAL)


def test_zero_protection_and_swap_are_fine():
    directives, _resolved = build_directives(
        params(memory_min=0, memory_low="0%", memory_swap_max=0, memory_zswap_max="0"), "a.service", "service", MEMTOTAL
    )
    assert directives == [("MemoryLow", "0%"), ("MemoryMin", "0"), ("MemorySwapMax", "0"), ("MemoryZSwapMax", "0")]


def test_zswap_percentage_is_resolved_to_bytes():
    directives, resolved = build_directives(params(memory_zswap_max="25%"), "a.service", "service", MEMTOTAL)
    assert directives == [("MemoryZSwapMax", "4G")] and resolved == {"memory_zswap_max": 4 * GiB}


def test_unsupported_settings():
    directives = [("MemoryZSwapMax", "1G"), ("ManagedOOMSwap", "kill"), ("MemoryMax", "1G")]
    assert unsupported_settings(directives, "slice", 246) == [
        {"option": "memory_zswap_max", "directive": "MemoryZSwapMax", "needs": 253, "systemd": 246},
        {"option": "managed_oom_swap", "directive": "ManagedOOMSwap", "needs": 247, "systemd": 246},
    ]
    assert unsupported_settings(directives, "slice", 253) == []
    assert unsupported_settings(directives, "slice", None) == []


def test_stage_then_discard_leaves_nothing(tmp_path):
    dropin = DropinFile(FakeModule(), dropin_path(str(tmp_path), "a.service", MEMORY_DROPIN_NAME))
    staged = dropin.stage("x\n")
    assert os.listdir(tmp_path / "a.service.d") == [os.path.basename(staged.tmp)]
    dropin.discard(staged)
    assert os.listdir(tmp_path) == []


def test_a_failing_prepare_leaves_nothing(tmp_path):
    dropin = DropinFile(FakeModule(), dropin_path(str(tmp_path), "a.service", MEMORY_DROPIN_NAME))

    def bad_owner(tmp):
        raise Failed("chown failed")

    with pytest.raises(Failed):
        dropin.write("x\n", prepare=bad_owner)
    assert os.listdir(tmp_path) == []  # neither the temporary file nor the .d directory made for it


def test_write_sets_the_mode_it_is_given(tmp_path):
    old_umask = os.umask(0o077)
    try:
        dropin = DropinFile(FakeModule(), dropin_path(str(tmp_path), "a.service", OOM_SCORE_ADJ_DROPIN_NAME))
        dropin.write("x\n", mode=0o644)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(dropin.path).st_mode) == 0o644


def test_read_is_bounded(tmp_path):
    path = tmp_path / "big.conf"
    path.write_bytes(MARKER.encode() + b"x" * (READ_MAX * 2))
    assert len(DropinFile(FakeModule(), str(path)).read()) == READ_MAX

# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Machine-type parsing and right-sizing against the shipped table (the sizes of shared/reference gcp.md §2)."""

from __future__ import annotations

import pytest

from ansible_collections.oomguard.memory.plugins.plugin_utils._machine_types import (
    MachineTypeError,
    MachineTypes,
    gcloud_snippet,
    needed_memory_mib,
)

TYPES = MachineTypes()

# vCPU/GB as gcp.md §2 lists them: every series and size of the table (GB x 1024 = memoryMb, except where noted).
SERIES = {
    "e2-standard": (4, [2, 4, 8, 16, 32]),
    "e2-highmem": (8, [2, 4, 8, 16]),
    "e2-highcpu": (1, [2, 4, 8, 16, 32]),
    "n1-standard": (3.75, [1, 2, 4, 8, 16, 32, 64, 96]),
    "n1-highmem": (6.5, [2, 4, 8, 16, 32, 64, 96]),
    "n2-standard": (4, [2, 4, 8, 16, 32, 48, 64, 80, 96, 128]),
    "n2-highmem": (8, [2, 4, 8, 16, 32, 48, 64, 80]),
    "n2-highcpu": (1, [2, 4, 8, 16, 32, 48, 64, 80]),
    "n2d-standard": (4, [2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224]),
    "n2d-highmem": (8, [2, 4, 8, 16, 32, 48, 64, 80, 96]),
    "n2d-highcpu": (1, [2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224]),
    "t2d-standard": (4, [1, 2, 4, 8, 16, 32, 48, 60]),
    "t2a-standard": (4, [1, 2, 4, 8, 16, 32, 48]),
    "c2-standard": (4, [4, 8, 16, 30, 60]),
    "c3-standard": (4, [4, 8, 22, 44, 88, 176]),
    "c3-highcpu": (2, [4, 8, 22, 44, 88, 176]),
    "c3-highmem": (8, [4, 8, 22, 44, 88, 176]),
    "c3d-standard": (4, [4, 8, 16, 30, 60, 90, 180, 360]),
    "n4d-standard": (4, [2, 4, 8, 16, 32, 48, 64, 80, 96]),
    "n4d-highmem": (8, [2, 4, 8, 16, 32, 48, 64, 80, 96]),
    "n4d-highcpu": (2, [2, 4, 8, 16, 32, 48, 64, 80, 96]),
}
PREDEFINED = [
    (f"{series}-{vcpus}", vcpus, round(vcpus * gb * 1024)) for series, (gb, sizes) in SERIES.items() for vcpus in sizes
]
# n1-highcpu: 0.9 GB per vCPU rounded to whole MiB (96 vCPUs: about 86 GB); c4-standard: whole-GB sizes.
PREDEFINED += [(f"n1-highcpu-{n}", n, round(n * 921.6)) for n in (2, 4, 8, 16, 32, 64, 96)]
PREDEFINED += [
    (f"c4-standard-{n}", n, gb * 1024)
    for n, gb in ((2, 7), (4, 15), (8, 30), (16, 60), (32, 120), (48, 180), (64, 240), (96, 360), (192, 720))
]
SHARED_CORE = [
    ("e2-micro", 2, 1024),
    ("e2-small", 2, 2048),
    ("e2-medium", 2, 4096),
    ("f1-micro", 1, 614),
    ("g1-small", 1, 1740),
]


@pytest.mark.parametrize(("name", "vcpus", "memory_mib"), PREDEFINED, ids=[p[0] for p in PREDEFINED])
def test_every_predefined_type_of_the_reference(name, vcpus, memory_mib):
    parsed = TYPES.parse(name)
    assert (parsed["vcpus"], parsed["memory_mib"]) == (vcpus, memory_mib)
    assert parsed["family"] == name.split("-")[0]
    assert parsed["type_class"] == name.split("-")[1]
    assert not parsed["shared_core"] and not parsed["custom"] and parsed["source"] == "table"


def test_n1_highcpu_96_is_about_86_gb():
    assert TYPES.parse("n1-highcpu-96")["memory_gib"] == pytest.approx(86.4, abs=0.1)


@pytest.mark.parametrize(("name", "vcpus", "memory_mib"), SHARED_CORE, ids=[s[0] for s in SHARED_CORE])
def test_shared_core_types(name, vcpus, memory_mib):
    parsed = TYPES.parse(name)
    assert (parsed["vcpus"], parsed["memory_mib"], parsed["shared_core"]) == (vcpus, memory_mib, True)


@pytest.mark.parametrize(
    ("name", "family", "vcpus", "memory_mib", "shared", "ext"),
    [
        ("n2-custom-8-20480", "n2", 8, 20480, False, False),
        ("custom-4-5120", "n1", 4, 5120, False, False),
        ("e2-custom-4-8192", "e2", 4, 8192, False, False),
        ("n2d-custom-2-3072", "n2d", 2, 3072, False, False),
        ("e2-custom-micro-2048", "e2", 2, 2048, True, False),
        ("e2-custom-small-4096", "e2", 2, 4096, True, False),
        ("e2-custom-medium-6144", "e2", 2, 6144, True, False),
        ("n2-custom-2-16384-ext", "n2", 2, 16384, False, True),
        ("custom-2-15360-ext", "n1", 2, 15360, False, True),
        ("N2-CUSTOM-8-20480", "n2", 8, 20480, False, False),
    ],
)
def test_custom_types(name, family, vcpus, memory_mib, shared, ext):
    parsed = TYPES.parse(name)
    assert parsed["family"] == family
    assert (parsed["vcpus"], parsed["memory_mib"]) == (vcpus, memory_mib)
    assert parsed["shared_core"] is shared and parsed["extended_memory"] is ext
    assert parsed["custom"] is True and parsed["type_class"] == "custom" and parsed["source"] == "name"


def test_selflink_names_the_type_in_its_last_segment():
    link = "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/machineTypes/e2-standard-4"
    assert TYPES.parse(link)["memory_mib"] == 16384


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("m1-ultramem-40", "unknown machine type 'm1-ultramem-40': not a custom type and not in the machine-type"),
        ("e2-standard-3", "unknown machine type 'e2-standard-3'"),
        ("n2-custom-8", "expected n2-custom-<vcpus>-<memory MiB>"),
        ("n2-custom-eight-20480", "the vCPU count must be a positive integer, got 'eight'"),
        ("n2-custom-0-20480", "the vCPU count must be a positive integer, got '0'"),
        ("n2-custom-8-lots", "the memory (MiB) must be a positive integer, got 'lots'"),
        ("n2-custom-small-4096", "shared-core custom types exist only for E2"),
        ("e2 medium", "is not a machine type name"),
        ("", "is not a machine type name"),
        ("e2-medium; rm -rf /", "is not a machine type name"),
        ("x" * 200, "too long"),
    ],
)
def test_unknown_and_malformed_names_fail_clearly(name, message):
    with pytest.raises(MachineTypeError, match=None) as raised:
        TYPES.parse(name)
    assert message in str(raised.value)


def test_a_non_string_name_fails_clearly():
    with pytest.raises(MachineTypeError, match="must be a string, got int"):
        TYPES.parse(42)


def test_the_table_is_data_users_extend():
    extended = MachineTypes({"m1-ultramem-40": {"vcpus": 40, "memory_mib": 984064}})
    assert extended.parse("m1-ultramem-40")["memory_mib"] == 984064
    with pytest.raises(MachineTypeError, match="unknown machine type 'e2-medium'"):
        extended.parse("e2-medium")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], "must be a dict"),
        ({"m1-ultramem-40": {"vcpus": 40}}, "memory_mib must be a positive integer, got None"),
        ({"m1-ultramem-40": {"vcpus": True, "memory_mib": 1}}, "vcpus must be a positive integer, got True"),
        ({"m1-ultramem-40": "big"}, "the entry must be a dict"),
        ({"n2-custom-8-20480": {"vcpus": 8, "memory_mib": 20480}}, "is not a predefined machine type name"),
    ],
)
def test_a_bad_table_fails_clearly(table, message):
    with pytest.raises(MachineTypeError) as raised:
        MachineTypes(table)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("need_mib", "recommended", "alternative"),
    [
        (4500, "e2-standard-2", "e2-highmem-2"),  # the example of gcp.md: e2-medium with OOM kills
        (9000, "e2-highmem-2", None),  # 2 vCPUs still, memory first
        (17000, "e2-highmem-4", None),
        (33000, "e2-highmem-8", None),
        (70000, "e2-highmem-16", None),
    ],
)
def test_e2_ladder_memory_first(need_mib, recommended, alternative):
    proposal = TYPES.rightsize("e2-medium", need_mib=need_mib)
    assert proposal["action"] == "upsize"
    assert proposal["recommended"]["name"] == recommended
    assert (proposal["alternative"] or {}).get("name") == alternative


def test_upsize_keeps_the_vcpu_count_and_names_the_highmem_alternative():
    proposal = TYPES.rightsize("n1-standard-4", need_mib=20000)
    assert proposal["recommended"]["name"] == "n1-highmem-4"
    proposal = TYPES.rightsize("e2-standard-4", need_mib=17000)
    assert proposal["recommended"]["name"] == "e2-highmem-4"
    proposal = TYPES.rightsize("n2-standard-8", need_mib=40000)
    assert proposal["recommended"]["name"] == "n2-highmem-8"
    assert proposal["recommended"]["vcpus"] == 8


def test_need_is_compared_with_usable_memory_not_the_nominal_size():
    # e2-standard-2 is 8192 MiB nominal; with MemTotal at 96 % of it, 7900 MiB do not fit
    proposal = TYPES.rightsize("e2-medium", need_mib=7900, memtotal_mib=3932)
    assert proposal["recommended"]["name"] == "e2-highmem-2"
    assert proposal["usable_mib"] == 3932


def test_after_an_oom_kill_the_bump_applies_even_with_a_low_measured_peak():
    assert needed_memory_mib(1000, 3920, True) == max(3920 * 1.2, 3920 + 100)
    assert needed_memory_mib(1000, 3920, False) == 1150
    assert needed_memory_mib(4000, 3920, True) == 4704  # max(4000 * 1.15, 3920 * 1.2)
    assert needed_memory_mib(100, 300, True) == 400  # the +100 MiB floor wins on tiny VMs
    proposal = TYPES.rightsize("e2-medium", peak_used_mib=1000, memtotal_mib=3920, oom_killed=True)
    assert proposal["action"] == "upsize" and proposal["recommended"]["name"] == "e2-standard-2"


def test_legacy_shared_core_moves_to_e2():
    proposal = TYPES.rightsize("f1-micro", peak_used_mib=600, memtotal_mib=580, oom_killed=True)
    assert proposal["recommended"]["name"] == "e2-micro"
    proposal = TYPES.rightsize("g1-small", need_mib=3000)
    assert proposal["recommended"]["name"] == "e2-medium"


def test_custom_types_get_a_custom_proposal_rounded_to_256_mib():
    proposal = TYPES.rightsize("n2-custom-4-8192", need_mib=10000)
    assert proposal["action"] == "upsize"
    assert proposal["recommended"]["name"] == "n2-custom-4-10240"
    assert TYPES.rightsize("custom-2-4096", need_mib=5000)["recommended"]["name"] == "custom-2-5120"


def test_allow_custom_adds_an_exact_custom_type():
    proposal = TYPES.rightsize("n2-standard-2", need_mib=9000, allow_custom=True)
    assert proposal["recommended"]["name"] == "n2-highmem-2"
    assert proposal["custom"]["name"] == "n2-custom-2-9216"
    assert TYPES.rightsize("n2-standard-2", need_mib=9000)["custom"] is None


def test_nothing_big_enough():
    proposal = TYPES.rightsize("e2-highmem-16", need_mib=200000)
    assert proposal["action"] == "none_fits" and proposal["recommended"] is None
    assert "no e2 type" in proposal["reason"]


def test_downsize_only_when_asked_same_vcpus_never_to_shared_core():
    assert TYPES.rightsize("n2-highmem-8", need_mib=10000)["action"] == "keep"
    proposal = TYPES.rightsize("n2-highmem-8", need_mib=10000, downsize=True)
    assert proposal["action"] == "downsize"
    # the smallest that still fits: 8 GiB highcpu is too small for 10000 MiB, 32 GiB standard fits
    assert proposal["recommended"]["name"] == "n2-standard-8"
    # e2-standard-2 never goes to the shared-core e2-medium
    proposal = TYPES.rightsize("e2-standard-2", need_mib=1500, downsize=True)
    assert proposal["recommended"]["name"] == "e2-highcpu-2"
    assert not proposal["recommended"]["shared_core"]
    proposal = TYPES.rightsize("e2-medium", need_mib=1500, downsize=True)
    assert proposal["recommended"]["name"] == "e2-small"


def test_rightsize_needs_a_peak_or_a_need():
    with pytest.raises(MachineTypeError, match="needs peak_used_mib or need_mib"):
        TYPES.rightsize("e2-medium")


def test_gcloud_snippet_stops_changes_and_starts_with_quoted_names():
    snippet = gcloud_snippet("web-1", "europe-west1-b", "e2-standard-2", "example-prod")
    assert snippet.splitlines() == [
        "gcloud compute instances stop web-1 --zone europe-west1-b --project example-prod",
        "gcloud compute instances set-machine-type web-1 --zone europe-west1-b --project example-prod "
        "--machine-type e2-standard-2",
        "gcloud compute instances start web-1 --zone europe-west1-b --project example-prod",
    ]
    hostile = gcloud_snippet("web-1; reboot", None, "e2-standard-2")
    assert "'web-1; reboot'" in hostile and "--zone ZONE" in hostile

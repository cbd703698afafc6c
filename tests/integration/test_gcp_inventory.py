# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""inventories/gcp/ against a mocked Compute API, offline (reference gcp.md, section 1.7).

The real google.cloud.gcp_compute inventory plugin (google.cloud 1.10, taken out of the ``ansible`` 11.x wheel
from the package index into .cache/, never into the repository) parses a copy of inventories/gcp/prod.gcp.yml
whose only change is ``auth_kind: accesstoken`` with a fake token, so no credentials or metadata server are
needed. The HTTP layer is mocked with ``responses``: one aggregatedList page of five VMs.

The test checks the groups (memory-policy label, machine type, zone, GKE nodes), the host variables, the
group_vars each host gets, and the plan oom_policy_resolve makes for each host from that policy (synthetic
oom_facts 1.1 with the RAM of each machine type): one policy, different byte limits on an e2-small and an
e2-standard-4, earlyoom on the e2-small only, the GKE node skipped. A 403 must fail the parse, not give an empty
inventory, once ``unparsed_is_failed`` is set as the inventory's README says.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
INVENTORY_DIR = REPO / "inventories" / "gcp"
GCP_COLLECTIONS = REPO / ".cache" / "gcp-collections"
WHEELS = REPO / ".cache" / "gcp-wheel"
PREFIX = "ansible_collections/google/cloud/"
PROJECT = "example-prod"
URL = "https://www.googleapis.com/compute/v1/projects/%s/aggregated/instances" % PROJECT
FIXTURE = REPO / "tests" / "unit" / "fixtures" / "protect" / "protect-web-e2-small.json"
MEMORY_MIB = {"e2-small": 2048, "e2-standard-4": 16384, "e2-medium": 4096, "n2-highmem-8": 65536}


def google_cloud_collection():
    """A collections path holding google.cloud, extracted once from the ansible 11.x wheel into .cache/."""
    plugin = GCP_COLLECTIONS / PREFIX / "plugins" / "inventory" / "gcp_compute.py"
    if plugin.exists():
        return GCP_COLLECTIONS
    wheels = sorted(WHEELS.glob("ansible-11.*-py3-none-any.whl"))
    if not wheels:
        WHEELS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(WHEELS), "ansible==11.*"],
            check=True,
            timeout=900,
        )
        wheels = sorted(WHEELS.glob("ansible-11.*-py3-none-any.whl"))
    staging = Path(tempfile.mkdtemp(prefix="gcp-collections-", dir=str(REPO / ".cache")))
    try:
        with zipfile.ZipFile(wheels[-1]) as wheel:
            for name in wheel.namelist():
                if name.startswith(PREFIX):
                    wheel.extract(name, staging)
        if not plugin.exists():
            GCP_COLLECTIONS.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(GCP_COLLECTIONS, ignore_errors=True)
            staging.rename(GCP_COLLECTIONS)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return GCP_COLLECTIONS


def instance(name, zone, machine_type, labels=None, ip="10.128.0.2"):
    base = "https://www.googleapis.com/compute/v1/projects/%s" % PROJECT
    region = zone.rsplit("-", 1)[0]
    vm = {
        "kind": "compute#instance",
        "id": str(abs(hash(name)) % 10**18),
        "name": name,
        "status": "RUNNING",
        "zone": "%s/zones/%s" % (base, zone),
        "machineType": "%s/zones/%s/machineTypes/%s" % (base, zone, machine_type),
        "selfLink": "%s/zones/%s/instances/%s" % (base, zone, name),
        "networkInterfaces": [
            {
                "name": "nic0",
                "networkIP": ip,
                "network": "%s/global/networks/default" % base,
                "subnetwork": "%s/regions/%s/subnetworks/default" % (base, region),
            }
        ],
        "metadata": {"kind": "compute#metadata", "items": [{"key": "enable-oslogin", "value": "TRUE"}]},
        "disks": [],
        "creationTimestamp": "2026-11-01T10:00:00.000-07:00",
    }
    if labels is not None:
        vm["labels"] = labels
    return vm


INSTANCES = {
    "zones/us-central1-a": {
        "instances": [
            instance("web-1", "us-central1-a", "e2-small", {"memory-policy": "web", "env": "prod"}, "10.128.0.11"),
            instance("web-2", "us-central1-a", "e2-standard-4", {"memory-policy": "web", "env": "prod"}, "10.128.0.12"),
            instance(
                "gke-pool-1",
                "us-central1-a",
                "e2-medium",
                {"memory-policy": "web", "goog-gke-node": "", "goog-k8s-cluster-name": "prod"},
                "10.128.0.13",
            ),
        ]
    },
    "zones/europe-west1-b": {
        "instances": [
            instance("db-1", "europe-west1-b", "n2-highmem-8", {"memory-policy": "database"}, "10.132.0.21"),
            instance("bastion-1", "europe-west1-b", "e2-small", None, "10.132.0.22"),
        ]
    },
    "zones/us-east1-b": {"warning": {"code": "NO_RESULTS_ON_PAGE", "message": "none"}},
}


@pytest.fixture(scope="module")
def ansible_in_process():
    """The plugin loader over this collection and google.cloud (in this process: responses patches requests)."""
    pytest.importorskip("responses")
    from ansible.plugins.loader import init_plugin_loader

    # A test module collected before this one may have imported the collection as a plain namespace package
    # (tests/conftest.py puts .cache/collections on sys.path); that cached package would hide google.cloud from
    # Ansible's collection finder.
    for name in [
        name for name in sys.modules if name == "ansible_collections" or name.startswith("ansible_collections.")
    ]:
        del sys.modules[name]
    init_plugin_loader([str(REPO / ".cache" / "collections"), str(google_cloud_collection())])


@pytest.fixture
def inventory_copy(tmp_path):
    """inventories/gcp/ with the one change a test needs: a fixed token instead of application credentials."""
    target = tmp_path / "gcp"
    shutil.copytree(INVENTORY_DIR, target)
    source = target / "prod.gcp.yml"
    config = yaml.safe_load(source.read_text())
    assert config["auth_kind"] == "application"
    config.update(auth_kind="accesstoken", access_token="fake-token")
    source.write_text(yaml.safe_dump(config))
    return source


def load(path):
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(path)])
    return inventory, VariableManager(loader=loader, inventory=inventory)


def facts_for(machine_type, hostname):
    facts = json.loads(FIXTURE.read_text())
    facts["memory"]["MemTotal"] = MEMORY_MIB[machine_type] * 1024 - 60 * 1024  # a little below nominal, as on GCE
    facts["host"]["hostname"] = hostname
    facts["units"]["postgresql.service"] = dict(facts["units"]["web.service"], MemoryCurrent=512 * 1024**2)
    facts["units"]["reports.service"] = dict(facts["units"]["web.service"], MemoryCurrent=256 * 1024**2)
    facts["units"]["web.service"]["MemoryCurrent"] = 200 * 1024**2
    return facts


def policy_of(variables):
    return {
        key[len("oom_protect_") :]: value
        for key, value in variables.items()
        if key.startswith("oom_protect_") and not key.startswith("oom_protect_state")
    }


def test_groups_host_vars_and_the_policy_per_host(ansible_in_process, inventory_copy):
    import responses

    from ansible_collections.oomguard.memory.plugins.plugin_utils._policy import resolve_policy

    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add(
            responses.GET,
            URL,
            json={"items": INSTANCES},
            match=[responses.matchers.query_param_matcher({"filter": "status = RUNNING"}, strict_match=False)],
        )
        inventory, variables = load(inventory_copy)
        assert mock.calls[0].request.headers["Authorization"] == "Bearer fake-token"

    groups = {name: sorted(host.name for host in group.get_hosts()) for name, group in inventory.groups.items()}
    assert groups["memory_policy_web"] == ["gke-pool-1", "web-1", "web-2"]
    assert groups["memory_policy_database"] == ["db-1"]
    assert groups["mt_e2_small"] == ["bastion-1", "web-1"]
    assert groups["mt_n2_highmem_8"] == ["db-1"]
    assert groups["zone_europe_west1_b"] == ["bastion-1", "db-1"]
    assert groups["gke_nodes"] == ["gke-pool-1"]

    web1 = inventory.get_host("web-1").get_vars()
    assert (web1["machineType"], web1["zone"], web1["project"]) == ("e2-small", "us-central1-a", PROJECT)
    assert web1["labels"] == {"memory-policy": "web", "env": "prod"}
    assert web1["ansible_host"] == "10.128.0.11"
    assert "labels" not in inventory.get_host("bastion-1").get_vars()

    plans = {}
    for name in ("web-1", "web-2", "gke-pool-1", "db-1", "bastion-1"):
        host = inventory.get_host(name)
        host_vars = variables.get_vars(host=host)
        facts = facts_for(host.get_vars()["machineType"], name)
        plans[name] = resolve_policy(facts, policy_of(host_vars), name, labels=host.get_vars().get("labels"))
        assert plans[name]["violations"] == [], (name, plans[name]["violations"])

    def settings(plan, unit):
        return next(item["settings"] for item in plan["units"] if item["unit"] == unit)

    # one policy, two RAM sizes: the same percentages are different byte limits
    small, large = settings(plans["web-1"], "web.service"), settings(plans["web-2"], "web.service")
    ram_small, ram_large = plans["web-1"]["ram_bytes"], plans["web-2"]["ram_bytes"]
    assert small["memory_max"] == int(ram_small * 0.7) // 4096 * 4096
    assert large["memory_max"] == int(ram_large * 0.7) // 4096 * 4096
    assert large["memory_max"] > 7 * small["memory_max"]
    assert small["oom_score_adjust"] == large["oom_score_adjust"] == -500
    assert settings(plans["web-1"], "nginx.service")["oom_score_adjust"] == -900
    # the e2-small group chooses earlyoom; the e2-standard-4 has none
    assert plans["web-1"]["killer"]["name"] == "earlyoom"
    assert plans["web-2"]["killer"]["name"] == "none"
    # the database class from group_vars/all.yml
    pg = settings(plans["db-1"], "postgresql.service")
    assert (pg["oom_score_adjust"], pg["oom_policy"]) == (-950, "continue")
    assert pg["memory_low"] == int(plans["db-1"]["ram_bytes"] * 0.25) // 4096 * 4096
    # GKE node: skipped; a VM without a memory-policy label: no policy, nothing to do
    assert plans["gke-pool-1"]["skip"].startswith("GKE node")
    assert plans["bastion-1"]["units"] == [] and plans["bastion-1"]["processes"] == []
    assert plans["bastion-1"]["killer"]["name"] == "earlyoom"


FORBIDDEN = {
    "error": {
        "code": 403,
        "message": "Required 'compute.instances.list' permission",
        "errors": [{"reason": "forbidden"}],
    }
}


def test_forbidden_fails_with_unparsed_is_failed(ansible_in_process, inventory_copy, monkeypatch):
    import responses
    from ansible import constants
    from ansible.errors import AnsibleError

    monkeypatch.setattr(constants, "INVENTORY_UNPARSED_IS_FAILED", True)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, URL, json=FORBIDDEN, status=403)
        with pytest.raises(AnsibleError, match="No inventory was parsed"):
            load(inventory_copy)


def test_forbidden_without_the_setting_is_an_empty_inventory(ansible_in_process, inventory_copy, monkeypatch):
    """Why the README insists on unparsed_is_failed: by default a 403 gives no host at all and no error."""
    import responses
    from ansible import constants

    monkeypatch.setattr(constants, "INVENTORY_UNPARSED_IS_FAILED", False)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, URL, json=FORBIDDEN, status=403)
        inventory, _variables = load(inventory_copy)
    assert inventory.list_hosts("all") == []


def test_inventory_file_is_the_one_in_the_repository():
    config = yaml.safe_load((INVENTORY_DIR / "prod.gcp.yml").read_text())
    assert config["plugin"] == "google.cloud.gcp_compute"
    assert config["hostnames"] == ["name"]
    assert {"key": "labels['memory-policy']", "prefix": "memory_policy"} in config["keyed_groups"]
    assert copy.deepcopy(config["filters"]) == ["status = RUNNING"]

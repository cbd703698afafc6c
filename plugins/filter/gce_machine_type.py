# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: gce_machine_type
short_description: Parse a Compute Engine machine type into its vCPUs and memory
version_added: "1.0.0"
author: oomguard maintainers (@oomguard)
description:
  - Turns a Compute Engine machine type name, or its selfLink, into its family, class, vCPU count and memory in MiB
    (the API's C(memoryMb)).
  - Predefined types come from a table shipped with the collection (C(roles/oom_report/vars/gce_machine_types.yml));
    pass O(table) to use another or an extended one.
  - Custom types are parsed from their name, C(<family>-custom-<vcpus>-<MiB>), bare C(custom-<vcpus>-<MiB>) (N1), the
    E2 shared-core customs C(e2-custom-micro-<MiB>), C(e2-custom-small-<MiB>) and C(e2-custom-medium-<MiB>) (2 vCPUs)
    and the extended-memory suffix C(-ext).
  - A name that is neither custom nor in the table is an error that says so.
options:
  _input:
    description: The machine type, for example V(e2-medium), V(n2-custom-8-20480) or a C(machineType) selfLink.
    type: str
    required: true
  table:
    description:
      - "Machine types to know, C({name: {vcpus, memory_mib, shared_core}}). Defaults to the shipped table."
      - To extend the shipped table, combine it with your entries, as the oom_report role does with
        C(oom_report_machine_types).
    type: dict
"""

EXAMPLES = r"""
- name: Memory of a VM's machine type in MiB
  ansible.builtin.debug:
    msg: "{{ ('e2-medium' | oomguard.memory.gce_machine_type)['memory_mib'] }}"  # 4096

- name: A custom type
  ansible.builtin.debug:
    msg: "{{ 'n2-custom-8-20480' | oomguard.memory.gce_machine_type }}"  # 8 vCPUs, 20480 MiB

- name: A type the shipped table lacks
  ansible.builtin.debug:
    msg: "{{ 'm1-ultramem-40' | oomguard.memory.gce_machine_type(table=my_types) }}"
  vars:
    my_types:
      m1-ultramem-40: {vcpus: 40, memory_mib: 984064}
"""

RETURN = r"""
_value:
  description: The machine type.
  type: dict
  contains:
    name:
      description: The short name.
      type: str
    family:
      description: The machine family, for example V(e2), V(n1) (also for bare C(custom-...)), V(n2d).
      type: str
    type_class:
      description: V(standard), V(highmem), V(highcpu), V(micro), V(small), V(medium) (shared core), V(custom), ...
      type: str
    vcpus:
      description: Guest vCPUs (2 for E2 shared-core types).
      type: int
    memory_mib:
      description: Memory in MiB.
      type: int
    memory_gib:
      description: Memory in GiB, rounded to 2 decimals.
      type: float
    shared_core:
      description: Whether the vCPUs are a fraction of a core (V(e2-micro), V(f1-micro), V(e2-custom-small-...), ...).
      type: bool
    custom:
      description: Whether it is a custom machine type.
      type: bool
    extended_memory:
      description: Whether a custom type carries the extended-memory suffix C(-ext).
      type: bool
    source:
      description: V(table) for predefined types, V(name) for custom types parsed from the name.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.oomguard.memory.plugins.plugin_utils._machine_types import MachineTypeError, MachineTypes


def gce_machine_type(name, table=None):
    try:
        return MachineTypes(table).parse(name)
    except MachineTypeError as exc:
        raise AnsibleFilterError(f"gce_machine_type: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"gce_machine_type": gce_machine_type}

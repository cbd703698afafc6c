# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compare a module's RETURN documentation with a real result, key by key.

``check_result(RETURN, result)`` returns a list of problems (empty when the two agree):

* a key in the result that RETURN does not document;
* a key documented ``returned: always`` that the result lacks;
* a value whose type is not the documented one (null is accepted: "null where it does not apply");
* a documented dict or list of dicts without ``contains``, or a leaf without ``sample``.

Documentation keys written in capitals (for example ``UNIT``) stand for any key of a dict keyed by names: unit names,
sources, sysctls, killers. ansible-test wants every documented key to be a Python identifier.
Used by tests/unit/plugins/modules/test_oom_facts.py and by the integration test on a real OOM kill.
"""

from __future__ import annotations

import yaml

_TYPES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def _placeholder(spec):
    return next((key for key in spec if key.isupper()), None)


def check_docs(spec, path="", problems=None):
    """Problems of the documentation alone: every dict and list of dicts has contains, every leaf a sample."""
    problems = [] if problems is None else problems
    for key, doc in spec.items():
        where = path + "." + key if path else key
        for field in ("description", "returned", "type"):
            if field not in doc:
                problems.append("%s: no %s" % (where, field))
        kind = doc.get("type")
        nested = kind == "dict" or (kind == "list" and doc.get("elements") == "dict")
        if nested and "contains" not in doc:
            problems.append("%s: a %s without contains" % (where, kind))
        if "contains" in doc:
            check_docs(doc["contains"], where, problems)
        elif "sample" not in doc:
            problems.append("%s: no sample" % where)
    return problems


def _check_value(value, doc, where, problems):
    if value is None:
        return
    kind = doc.get("type", "raw")
    if kind in _TYPES and (not isinstance(value, _TYPES[kind]) or (kind in ("int", "float") and value is True)):
        problems.append("%s: %r is not a %s" % (where, value, kind))
        return
    if kind == "list" and doc.get("elements") in _TYPES:
        for index, item in enumerate(value):
            _check_value(
                item, {"type": doc["elements"], "contains": doc.get("contains")}, "%s[%d]" % (where, index), problems
            )
        return
    if kind == "dict" and doc.get("contains") and isinstance(value, dict):
        _check_dict(value, doc["contains"], where, problems)


def _check_dict(value, spec, path, problems):
    wildcard = _placeholder(spec)
    for key, item in value.items():
        where = "%s.%s" % (path, key)
        doc = spec.get(key) or (spec[wildcard] if wildcard else None)
        if doc is None:
            problems.append("%s: in the result, not documented" % where)
            continue
        _check_value(item, doc, where, problems)
    for key, doc in spec.items():
        if key != wildcard and doc.get("returned") == "always" and key not in value:
            problems.append("%s.%s: documented as always returned, missing from the result" % (path, key))


def check_result(return_doc, result, root=("ansible_facts", "oom")):
    """Problems found comparing RETURN (YAML text) with a module result (the dict the module returned)."""
    spec = yaml.safe_load(return_doc)
    problems = check_docs(spec)
    value = result
    for key in root:
        spec = spec[key]["contains"] if key != root[-1] else spec[key]
        value = value[key]
    _check_dict(value, spec["contains"], ".".join(root), problems)
    return problems

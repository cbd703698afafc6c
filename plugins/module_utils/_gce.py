# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The GCE metadata server: which machine type, zone, instance and project a Compute Engine VM is.

PRIVATE to the oomguard.memory collection. No compatibility promise.

Only five plain values are read, never a token or the instance attributes (which may hold secrets). A
response counts only when it carries the ``Metadata-Flavor: Google`` header, so that a proxy or captive portal
answering for ``metadata.google.internal`` is not believed. Proxies are bypassed.
"""

from __future__ import annotations

import http.client
import re

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

DEFAULT_URL = "http://metadata.google.internal/computeMetadata/v1"
RESPONSE_MAX = 1024
FIELDS = (
    ("machine_type", "instance/machine-type", re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")),
    ("zone", "instance/zone", re.compile(r"^[a-z][a-z0-9-]{0,62}$")),
    ("instance_id", "instance/id", re.compile(r"^[0-9]{1,20}$")),
    ("instance_name", "instance/name", re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")),
    ("project", "project/project-id", re.compile(r"^[a-z0-9][a-z0-9.:-]{0,99}$")),
)


class MetadataUnavailable(Exception):
    """The metadata server did not answer, or not as the GCE metadata server would."""


def _fetch(url, timeout):
    try:
        response = open_url(
            url,
            headers={"Metadata-Flavor": "Google"},
            timeout=timeout,
            use_proxy=False,
            follow_redirects="none",
            http_agent="oomguard.memory",
            use_netrc=False,
        )
        body = response.read(RESPONSE_MAX + 1)
        flavor = response.headers.get("Metadata-Flavor")
    except (OSError, ValueError, http.client.HTTPException, UrlsConnectionError) as exc:
        raise MetadataUnavailable("%s: %s" % (url, exc)) from None
    if flavor != "Google":
        raise MetadataUnavailable("%s: the answer lacks the Metadata-Flavor: Google header" % url)
    if len(body) > RESPONSE_MAX:
        raise MetadataUnavailable("%s: the answer is longer than %d bytes" % (url, RESPONSE_MAX))
    return body.decode("utf-8", errors="replace").strip()


def read_gce_metadata(base_url=DEFAULT_URL, timeout=1.0):
    """Return ``{machine_type, zone, instance_id, instance_name, project}`` (a value that fails its check is None).

    Raises MetadataUnavailable at the first request that fails, so a host that is no GCE VM costs one timeout.
    """
    base = base_url.rstrip("/")
    found = {}
    for key, path, pattern in FIELDS:
        value = _fetch(base + "/" + path, timeout)
        # machine-type and zone come as projects/<number>/machineTypes/<name> and projects/<number>/zones/<name>
        value = value.rsplit("/", 1)[-1]
        found[key] = value if pattern.match(value) else None
    return found

# Copyright (c) oomguard.memory contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark of the fleet OOM report: aggregation, output sizes, Chromium render, and the report through ansible.

    python tests/benchmarks/bench_report.py                 # 10,000 hosts; HTML at 2,000 and 10,000; ansible at 2,000
    python tests/benchmarks/bench_report.py --quick         # for CI: 10,000-host aggregation, HTML at 2,000, no ansible
    python tests/benchmarks/bench_report.py --inventory INVENTORY [--repeat 3]
        report.yml over a real inventory (the lab fleet) side by side with an `ansible -m setup` sweep

What it measures (wall clock, best of --repeat):

* aggregation: ``build_report()`` (the code of the oomguard.memory.oom_fleet_report filter) over N synthetic hosts
  whose facts follow the oom_facts 1.1 contract (the unit-test fixtures, varied per host; one in ten without data),
  in a child process: time and the child's peak RSS above what the inputs already took. Baseline in the same run: a
  JSON round trip of the same facts (the cost of touching every value once);
* report.json, report.md and report.html sizes, and the time to render each;
* Chromium (Debian package) loading report.html with a probe (tests/integration/report_browser.py): time, console
  errors, DOM size, next to Chromium loading an empty page (its start-up floor);
* --ansible-hosts N: ``playbooks/report.yml`` with ``oom_report_facts_source=cache`` over N inventory hosts whose facts
  sit in a jsonfile fact cache: the whole role through ansible, hostvars included, without contacting hosts;
* --inventory: ``report.yml`` (live oom_facts on every host) against ``ansible all -m setup`` on the same inventory,
  interleaved round by round. Target: the report sweep costs no more than the setup sweep.

Target printed as PASS/FAIL (exit 0 unless --strict): 10,000 hosts aggregate in under 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "lib"))
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))

import oomlab  # noqa: E402
import report_browser  # noqa: E402

AGGREGATION_TARGET_S = 10.0

CHILD = r"""
import copy, datetime, json, random, resource, sys, time
collections, fixtures, count, out_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, collections)
from ansible_collections.oomguard.memory.plugins.plugin_utils._report import HostInput, build_report
from ansible_collections.oomguard.memory.plugins.plugin_utils import _render_html, _render_markdown

names = ("global-oom", "unit-limit", "quiet-oversized", "gke-node")
bases = [json.load(open(f"{fixtures}/facts-{name}.json")) for name in names]
types = ("e2-medium", "e2-standard-4", "n2-highmem-8", "e2-small", "n1-standard-2", "c3-standard-8")
rng = random.Random(1)
hosts = []
for index in range(count):
    name = f"vm-{index:05d}.europe-west1-b.c.example-prod.internal"
    if index % 10 == 9:
        hosts.append(HostInput(name, None, failure="unreachable: ssh: connect to host: Connection timed out"))
        continue
    oom = copy.deepcopy(bases[index % len(bases)])
    oom["memory"]["MemAvailable"] = int(oom["memory"]["MemTotal"] * rng.uniform(0.02, 0.9))
    for kill in oom["kills"]:
        kill["pid"] = rng.randint(300, 4000000)
        day = rng.randint(1, 28)
        kill["timestamp"] = f"2026-11-{day:02d}T{rng.randint(0, 23):02d}:00:00+00:00"
    inventory = {"machineType": types[index % len(types)], "zone": "europe-west1-b", "name": name.split(".")[0]}
    hosts.append(HostInput(name, oom, inventory=inventory))
facts = [h.oom for h in hosts]
rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

started = time.perf_counter()
report = build_report(hosts)
aggregation = time.perf_counter() - started
rss_report = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

started = time.perf_counter()
json.loads(json.dumps(facts))
baseline = time.perf_counter() - started

timings = {}
outputs = {
    "report.json": lambda: json.dumps(report),
    "report.md": lambda: _render_markdown.render(report),
    "report.html": lambda: _render_html.render(report),
}
sizes = {}
for filename, render in outputs.items():
    started = time.perf_counter()
    text = render()
    timings[filename] = time.perf_counter() - started
    sizes[filename] = len(text.encode("utf-8"))
    with open(f"{out_dir}/{filename}", "w", encoding="utf-8") as handle:
        handle.write(text)
print(json.dumps({
    "hosts": count,
    "aggregation_s": aggregation,
    "baseline_json_roundtrip_s": baseline,
    "peak_rss_mib": rss_report / 1024.0,
    "inputs_rss_mib": rss_inputs / 1024.0,
    "aggregation_extra_rss_mib": (rss_report - rss_inputs) / 1024.0,
    "render_s": timings,
    "bytes": sizes,
    "kills": report["summary"]["kills"],
}))
"""


def aggregate(count, out_dir):
    """Build and render the report of ``count`` synthetic hosts in a child process; its figures."""
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(oomlab.collections_path()),
            str(REPO_ROOT / "tests" / "unit" / "fixtures" / "report"),
            str(count),
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def best_of(repeat, function):
    results = [function() for _attempt in range(repeat)]
    return min(results, key=lambda result: result[0])


def chromium(html_path, repeat):
    if not report_browser.chromium_path():
        return None
    empty = Path(html_path).with_name("empty.html")
    empty.write_text("<!DOCTYPE html><html><head><title>empty</title></head><body></body></html>")

    def load(path):
        def run():
            seen = report_browser.check_page(path, timeout=600)
            return seen.seconds, seen

        return run

    floor = best_of(repeat, load(empty))[0]
    seconds, seen = best_of(repeat, load(html_path))
    return {
        "load_s": seconds,
        "empty_page_s": floor,
        "errors": seen.errors,
        "dom_nodes": seen.dom_nodes,
        "rows": seen.rows,
    }


def fact_cache_run(count, workdir):
    """report.yml over ``count`` inventory hosts from a jsonfile fact cache (no host contacted)."""
    fixtures = REPO_ROOT / "tests" / "unit" / "fixtures" / "report"
    bases = [json.loads((fixtures / f"facts-{name}.json").read_text()) for name in ("global-oom", "unit-limit")]
    cache = workdir / "fact-cache"
    cache.mkdir(parents=True, exist_ok=True)
    lines = ["all:", "  hosts:"]
    for index in range(count):
        name = f"cached-{index:05d}"
        lines.append(f"    {name}: {{machineType: e2-medium, zone: europe-west1-b}}")
        # ansible-core 2.19's jsonfile cache: one "s1_<host>" file per host, the facts serialised in "__payload__"
        (cache / f"s1_{name}").write_text(json.dumps({"__payload__": json.dumps({"oom": bases[index % 2]})}))
    inventory = workdir / "inventory.yml"
    inventory.write_text("\n".join(lines) + "\n")
    report_dir = workdir / "report-cache"
    env = oomlab.ansible_env(
        {
            "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache),
            "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "0",
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        }
    )
    variables = {"oom_report_dir": str(report_dir), "oom_report_facts_source": "cache", "oom_report_history": 0}
    command = [
        oomlab.ansible_executable("ansible-playbook"),
        str(REPO_ROOT / "playbooks" / "report.yml"),
        "-i",
        str(inventory),
        "-e",
        json.dumps(variables),
    ]
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=3600, check=False
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"report.yml over the fact cache failed:\n{completed.stdout[-3000:]}")
    report = json.loads((report_dir / "report.json").read_text())
    if report["summary"]["hosts_with_data"] != count:
        raise RuntimeError(f"report.yml found facts for {report['summary']['hosts_with_data']} of {count} cached hosts")
    return {"hosts": count, "seconds": seconds}


def inventory_sweep(inventory, repeat, workdir):
    """report.yml and `ansible -m setup` over the same inventory, interleaved; every run's time, and the report's
    host counts. A run that fails, or a report that does not cover every host, is an error, not a figure."""
    env = oomlab.ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"})
    report_dir = workdir / "sweep"
    report = [
        oomlab.ansible_executable("ansible-playbook"),
        str(REPO_ROOT / "playbooks" / "report.yml"),
        "-i",
        str(inventory),
        "-e",
        json.dumps({"oom_report_dir": str(report_dir), "oom_report_history": 0}),
    ]
    setup = [oomlab.ansible_executable("ansible"), "all", "-i", str(inventory), "-m", "ansible.builtin.setup", "-o"]
    times = {"report.yml": [], "ansible -m setup": []}
    hosts = None
    for _round in range(repeat):
        for label, command in (("ansible -m setup", setup), ("report.yml", report)):
            started = time.perf_counter()
            completed = subprocess.run(
                command, cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=3600, check=False
            )
            times[label].append(time.perf_counter() - started)
            if completed.returncode != 0:
                raise RuntimeError(f"{label} failed (rc {completed.returncode}):\n{completed.stdout[-3000:]}")
        summary = json.loads((report_dir / "report.json").read_text())["summary"]
        hosts = {key: summary[key] for key in ("hosts", "hosts_with_data", "hosts_no_data", "kills")}
        if summary["hosts_no_data"]:
            raise RuntimeError(f"report.yml had no data from {summary['hosts_no_data']} hosts: not a fair sweep")
    return {"best": {label: min(values) for label, values in times.items()}, "runs": times, "report": hosts}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI: 10,000-host aggregation, HTML at 2,000, no ansible")
    parser.add_argument("--hosts", type=int, default=10_000, help="hosts to aggregate (default 10,000)")
    parser.add_argument("--html-hosts", type=int, nargs="*", default=None, help="fleet sizes for Chromium")
    parser.add_argument("--ansible-hosts", type=int, default=None, help="hosts for report.yml over the fact cache")
    parser.add_argument("--inventory", type=Path, help="compare report.yml with `ansible -m setup` on this inventory")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    html_sizes = args.html_hosts if args.html_hosts is not None else ([2000] if args.quick else [2000, 10_000])
    ansible_hosts = args.ansible_hosts if args.ansible_hosts is not None else (0 if args.quick else 2000)
    results = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    failed = False
    with tempfile.TemporaryDirectory(prefix="oomguard-bench-report-") as temporary:
        workdir = Path(temporary)
        if args.inventory:
            results["sweep"] = inventory_sweep(args.inventory, args.repeat, workdir)
            sweep, runs = results["sweep"]["best"], results["sweep"]["runs"]
            verdict = "PASS" if sweep["report.yml"] <= sweep["ansible -m setup"] else "FAIL"
            print(
                f"sweep of {results['sweep']['report']['hosts']} hosts ({args.inventory}), best of {args.repeat}: "
                f"report.yml {sweep['report.yml']:.1f} s (runs {', '.join(f'{t:.1f}' for t in runs['report.yml'])}), "
                f"ansible -m setup {sweep['ansible -m setup']:.1f} s "
                f"(runs {', '.join(f'{t:.1f}' for t in runs['ansible -m setup'])})  [{verdict}: report <= setup]"
            )
            failed |= verdict == "FAIL"
        else:
            sizes = sorted({args.hosts, *html_sizes})
            results["aggregation"] = {}
            for count in sizes:
                out = workdir / f"hosts-{count}"
                out.mkdir()
                runs = [aggregate(count, out) for _attempt in range(args.repeat if count == args.hosts else 1)]
                figures = min(runs, key=lambda run: run["aggregation_s"])
                results["aggregation"][count] = figures
                line = (
                    f"{count:>6} hosts: aggregate {figures['aggregation_s']:.2f} s "
                    f"(baseline JSON round trip of the facts {figures['baseline_json_roundtrip_s']:.2f} s), "
                    f"peak RSS {figures['peak_rss_mib']:.0f} MiB (+{figures['aggregation_extra_rss_mib']:.0f} MiB over "
                    f"the inputs); json {figures['bytes']['report.json'] / 1e6:.1f} MB in "
                    f"{figures['render_s']['report.json']:.2f} s, md {figures['bytes']['report.md'] / 1e3:.0f} kB, "
                    f"html {figures['bytes']['report.html'] / 1e6:.2f} MB in {figures['render_s']['report.html']:.2f} s"
                )
                if count == args.hosts and count >= 10_000:
                    verdict = "PASS" if figures["aggregation_s"] < AGGREGATION_TARGET_S else "FAIL"
                    line += f"  [{verdict}: < {AGGREGATION_TARGET_S:.0f} s]"
                    failed |= verdict == "FAIL"
                print(line, flush=True)
                if count in html_sizes:
                    browser = chromium(out / "report.html", args.repeat)
                    results["aggregation"][count]["chromium"] = browser
                    if browser is None:
                        print("        chromium: not installed (tests/setup-env.sh --browser)")
                    else:
                        print(
                            f"        chromium: load {browser['load_s']:.2f} s "
                            f"(empty page {browser['empty_page_s']:.2f} s), "
                            f"{browser['dom_nodes']} DOM nodes, {browser['rows']} table rows, "
                            f"console errors {len(browser['errors'])}",
                            flush=True,
                        )
                        failed |= bool(browser["errors"])
            if ansible_hosts:
                results["fact_cache_run"] = fact_cache_run(ansible_hosts, workdir)
                run = results["fact_cache_run"]
                print(f"report.yml over {ansible_hosts} hosts from the fact cache: {run['seconds']:.1f} s end to end")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())

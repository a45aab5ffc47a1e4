#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: tune PostgreSQL with pgforge on the target and apply the settings safely.

It runs on the target's Python, which need not be the one pgforge was installed with, so it does
not import pgforge: it runs the ``pgforge apply`` command with ``--format json`` and reads the one
JSON object it prints. pgforge does the planning, the diff, the backup and the atomic write; this
module maps Ansible's check mode to ``--dry-run`` and diff mode to the per-file before/after text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: apply
short_description: Tune PostgreSQL with pgforge and apply the settings to a cluster
description:
  - Computes the settings for the target host (detected, or described by I(spec) or I(profile)) with pgforge
    and writes them into the cluster as C(conf.d/pgforge.conf), adding one C(include_dir) line to
    C(postgresql.conf) when it has none, so every existing line stays as it was.
  - With I(dsn) the settings are applied with C(ALTER SYSTEM) instead.
  - What is replaced is backed up beside C(postgresql.conf) (C(.pgforge-backup/)); C(pgforge apply --rollback)
    restores it byte for byte.
  - Reports C(changed) only when a file or setting really changes, so a second run is C(ok).
  - The site settings C(listen_addresses), C(port), C(timezone), C(log_timezone) and C(lc_messages) are left as
    the cluster has them unless I(site=true).
options:
  data_dir:
    description: Data directory of the cluster. One of I(data_dir) and I(dsn) is required.
    type: path
  dsn:
    description: libpq connection string; applies with ALTER SYSTEM.
    type: str
  config_file:
    description: postgresql.conf when it is not in the data directory (found automatically on Debian).
    type: path
  auto:
    description: Detect memory, CPUs and storage on the target (cgroup limits included).
    type: bool
    default: true
  profile:
    description: A bundled pgforge profile to start from.
    type: str
  spec:
    description: Spec keys (memory, cpus, storage, workload, connections, extensions...); they win over detection.
    type: dict
  reload:
    description: Reload the server after writing (settings that need a restart are reported in C(restart)).
    type: bool
    default: true
  site:
    description: Also apply listen_addresses, port, timezone, log_timezone and lc_messages.
    type: bool
    default: false
  exclude:
    description: Settings to leave alone.
    type: list
    elements: str
    default: []
  bindir:
    description: Directory of the cluster's postgres and pg_ctl, when it cannot be found from the running server.
    type: path
  executable:
    description: The pgforge command. Default, C(pgforge) on PATH, else C(python -m pgforge) with the target's Python.
    type: path
notes:
  - Supports check mode and diff mode.
requirements:
  - pgforge installed on the target host
author:
  - pgforge contributors
"""

EXAMPLES = r"""
- name: Tune PostgreSQL for this host
  pgforge.postgresql.apply:
    data_dir: /var/lib/postgresql/17/main
    spec:
      workload: oltp
      connections: 300
  register: tuned
  notify: restart postgresql   # the handler can check tuned.restart_required
"""

RETURN = r"""
changed:
  description: Whether a file (or ALTER SYSTEM setting) changed, or in check mode would change.
  type: bool
  returned: always
restart_required:
  description: Whether a changed setting takes effect only after a restart.
  type: bool
  returned: always
restart:
  description: Changed settings that need a restart.
  type: list
  returned: always
reload:
  description: Changed settings that take effect on reload.
  type: list
  returned: always
settings:
  description: Each changed setting with its old value, where it was set, the new value and what it needs.
  type: list
  returned: always
backup:
  description: Directory with the files that were replaced.
  type: str
  returned: when something was written
huge_pages:
  description: Huge pages the new shared memory needs, and the sysctl line.
  type: dict
  returned: always
warnings:
  description: What pgforge wants a person to know (shadowed settings, libraries not installed...).
  type: list
  returned: always
"""

import json
import sys

from ansible.module_utils.basic import AnsibleModule


def pgforge_command(module):
    """argv prefix that runs pgforge on this host."""
    executable = module.params["executable"]
    if executable:
        return [executable]
    found = module.get_bin_path("pgforge")
    if found:
        return [found]
    return [sys.executable, "-m", "pgforge"]


def build_argv(module):
    p = module.params
    argv = pgforge_command(module) + ["apply", "--format", "json"]
    if p["data_dir"]:
        argv += ["--data-dir", p["data_dir"]]
    if p["dsn"]:
        argv += ["--dsn", p["dsn"]]
    if p["config_file"]:
        argv += ["--config-file", p["config_file"]]
    if p["bindir"]:
        argv += ["--bindir", p["bindir"]]
    if p["auto"]:
        argv.append("--auto")
    if p["profile"]:
        argv += ["--profile", p["profile"]]
    if p["site"]:
        argv.append("--site")
    if p["exclude"]:
        argv += ["--exclude", ",".join(p["exclude"])]
    data = None
    if p["spec"]:
        argv += ["--spec", "-"]
        data = json.dumps(p["spec"])
    if module.check_mode:
        argv.append("--dry-run")
    else:
        argv.append("--yes")
        if p["reload"]:
            argv.append("--reload")
    return argv, data


def main():
    module = AnsibleModule(
        argument_spec=dict(
            data_dir=dict(type="path"),
            dsn=dict(type="str", no_log=True),
            config_file=dict(type="path"),
            auto=dict(type="bool", default=True),
            profile=dict(type="str"),
            spec=dict(type="dict"),
            reload=dict(type="bool", default=True),
            site=dict(type="bool", default=False),
            exclude=dict(type="list", elements="str", default=[]),
            bindir=dict(type="path"),
            executable=dict(type="path"),
        ),
        required_one_of=[("data_dir", "dsn")],
        mutually_exclusive=[("data_dir", "dsn")],
        supports_check_mode=True,
    )
    argv, data = build_argv(module)
    env = {"NO_COLOR": "1", "TERM": "dumb"}
    rc, out, err = module.run_command(argv, data=data, environ_update=env)
    try:
        result = json.loads(out) if out.strip() else {}
    except ValueError:
        module.fail_json(msg="pgforge printed something that is not JSON", rc=rc, stdout=out, stderr=err, cmd=argv)
    if rc != 0 or result.get("failed"):
        msg = result.get("error") or (err.strip().splitlines() or ["pgforge apply failed"])[-1]
        module.fail_json(msg=msg, rc=rc, stderr=err, cmd=argv, **{k: v for k, v in result.items() if k != "failed"})

    changed = bool(result.get("changed"))
    ret = dict(
        changed=changed,
        restart_required=bool(result.get("restart_required")),
        restart=result.get("restart", []),
        reload=result.get("reload", []),
        settings=result.get("settings", []),
        excluded=result.get("excluded", []),
        shadowed=result.get("shadowed", []),
        backup=result.get("backup"),
        reloaded=result.get("reloaded", False),
        huge_pages=result.get("huge_pages"),
        pgforge_warnings=result.get("warnings", []),
        statements=result.get("statements", []),
    )
    if module._diff:
        diffs = [
            dict(before_header=f["path"], after_header=f["path"], before=f["before"], after=f["after"])
            for f in result.get("files", [])
        ]
        if result.get("statements"):
            diffs.append(dict(before_header="ALTER SYSTEM", after_header="ALTER SYSTEM", before="",
                              after="".join(s + ";\n" for s in result["statements"])))
        if diffs:
            ret["diff"] = diffs
    for warning in result.get("warnings", []):
        module.warn(warning)
    module.exit_json(**ret)


if __name__ == "__main__":
    main()

"""Putting tuned settings into an existing cluster without disturbing what is already there.

Two ways in, both planned first and carried out only on request:

* **Data directory** (:func:`plan_datadir`, :func:`execute`): the settings go into one drop-in
  file, ``conf.d/pgforge.conf``, next to ``postgresql.conf``, which gains at most one
  ``include_dir`` line at its end. Each write is atomic, and what is replaced is first backed up
  beside postgresql.conf, which :func:`plan_rollback` / :func:`execute_rollback` restore byte for
  byte.
* **ALTER SYSTEM over a connection** (:func:`plan_sql`, :func:`execute_sql`): for servers whose
  files pgforge cannot reach; the previous ``postgresql.auto.conf`` values are saved so
  ``--rollback`` can set them back.

Modules: ``values`` (setting values compared by meaning), ``plan`` (the plan, which settings to
write, the drop-in's text), ``datadir`` (data-directory planning and the atomic, backed-up write),
``rollback`` (restoring a data-directory backup), ``server`` (the binaries and postmaster behind a
data directory: check, reload), ``sql`` (ALTER SYSTEM). Every public name is importable from here.
"""

from pgforge.apply.datadir import (
    BACKUP_DIR,
    DROPIN_DIR,
    DROPIN_NAME,
    INCLUDE_COMMENT,
    MANIFEST,
    ROLLED_BACK,
    ExecuteResult,
    atomic_write,
    backup_root,
    data_dir_major,
    debian_config_file,
    execute,
    find_config_file,
    plan_datadir,
)
from pgforge.apply.plan import SITE_SETTINGS, ApplyPlan, FileChange, SettingChange, render_dropin, select_settings
from pgforge.apply.rollback import RollbackPlan, execute_rollback, list_backups, plan_rollback
from pgforge.apply.server import (
    data_dir_owner,
    find_bindir,
    libdir_for,
    postmaster_pid,
    reload_server,
    run_as_owner,
    server_check,
)
from pgforge.apply.sql import (
    ServerState,
    alter_system,
    default_state_dir,
    execute_sql,
    latest_sql_record,
    plan_sql,
    read_server_state,
    rollback_statements,
)
from pgforge.apply.values import canonical, default_display, split_list

__all__ = [
    "BACKUP_DIR",
    "DROPIN_DIR",
    "DROPIN_NAME",
    "INCLUDE_COMMENT",
    "MANIFEST",
    "ROLLED_BACK",
    "SITE_SETTINGS",
    "ApplyPlan",
    "ExecuteResult",
    "FileChange",
    "RollbackPlan",
    "ServerState",
    "SettingChange",
    "alter_system",
    "atomic_write",
    "backup_root",
    "canonical",
    "data_dir_major",
    "data_dir_owner",
    "debian_config_file",
    "default_display",
    "default_state_dir",
    "execute",
    "execute_rollback",
    "execute_sql",
    "find_bindir",
    "find_config_file",
    "latest_sql_record",
    "libdir_for",
    "list_backups",
    "plan_datadir",
    "plan_rollback",
    "plan_sql",
    "postmaster_pid",
    "read_server_state",
    "reload_server",
    "render_dropin",
    "rollback_statements",
    "run_as_owner",
    "select_settings",
    "server_check",
    "split_list",
]

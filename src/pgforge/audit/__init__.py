"""``pgforge check``: audit existing configuration files and live servers.

The same tuning rules that generate a configuration judge an existing one (``Rule.judge``);
the checks here add validity, durability, security and cross-file coherence. Modules:
``model`` (Finding, Check, the registry), ``target`` (what is audited), ``discover`` (paths
to targets), ``values`` (file text to rule values), ``runner`` (selection, suppression,
baseline), ``checks/`` (one module per category), ``report/`` (one module per output format).
"""

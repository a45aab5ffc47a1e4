# pgforge as a Terraform data source: the host's description goes in, tuned PostgreSQL settings
# and the rendered postgresql.conf come out. Nothing is written anywhere by this module; feed the
# outputs to whatever manages the server (a cloud parameter group, a cloud-init file, a
# Kubernetes ConfigMap, Patroni's DCS).
#
# `pgforge terraform` speaks the external data source protocol: one JSON object of strings on
# stdin, one on stdout, errors on stderr with a non-zero exit (Terraform then fails the plan).

terraform {
  required_version = ">= 1.3"
  required_providers {
    external = {
      source  = "hashicorp/external"
      version = ">= 2.3"
    }
  }
}

data "external" "pgforge" {
  program = var.pgforge_command

  # Every value must be a string; an empty string means "not set" (pgforge's default applies).
  query = {
    name        = var.name
    memory      = var.memory
    cpus        = tostring(var.cpus)
    storage     = var.storage
    workload    = var.workload
    pg_version  = tostring(var.pg_version)
    connections = var.connections == null ? "" : tostring(var.connections)
    extensions  = join(",", var.extensions)
    spec_json   = var.spec == null ? "" : jsonencode(var.spec)
  }
}

locals {
  result   = data.external.pgforge.result
  settings = jsondecode(local.result.settings_json)
}

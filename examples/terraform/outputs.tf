output "settings" {
  description = "Every tuned setting, name to value (strings, as a parameter group takes them)."
  value       = local.settings
}

output "postgresql_conf" {
  description = "The complete postgresql.conf, with the reason for each value."
  value       = local.result.postgresql_conf
}

output "alter_system_sql" {
  description = "The same settings as ALTER SYSTEM statements."
  value       = local.result.alter_system_sql
}

output "restart_settings" {
  description = "Settings that take effect only after a restart."
  value       = compact(split(",", local.result.restart_settings))
}

output "shared_buffers" {
  value = local.result.shared_buffers
}

output "max_connections" {
  value = local.result.max_connections
}

output "sysctl" {
  description = "vm.nr_hugepages line for the chosen shared_buffers (an estimate; see pgforge apply for the exact figure)."
  value       = local.result.sysctl
}

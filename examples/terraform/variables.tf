variable "pgforge_command" {
  description = "How to run pgforge on the machine running Terraform."
  type        = list(string)
  default     = ["pgforge", "terraform"]
}

variable "name" {
  description = "Host name, written into the generated file's header."
  type        = string
  default     = ""
}

variable "memory" {
  description = "RAM available to PostgreSQL, such as 16GB."
  type        = string
}

variable "cpus" {
  description = "CPU cores available to PostgreSQL."
  type        = number
}

variable "storage" {
  description = "ssd, nvme, hdd or san."
  type        = string
  default     = "ssd"
}

variable "workload" {
  description = "web, oltp, dw, mixed or desktop."
  type        = string
  default     = "mixed"
}

variable "pg_version" {
  description = "PostgreSQL major version, 13 to 18."
  type        = number
  default     = 17
}

variable "connections" {
  description = "Client connections to size for; null lets pgforge choose for the workload."
  type        = number
  default     = null
}

variable "extensions" {
  description = "Extensions to configure (shared_preload_libraries and their settings)."
  type        = list(string)
  default     = ["pg_stat_statements"]
}

variable "spec" {
  description = "Further spec sections (pgbouncer, access, replication, archive, backup) as an object."
  type        = any
  default     = null
}

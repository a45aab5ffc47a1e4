memory      = "16GB"
cpus        = 4
storage     = "ssd"
workload    = "oltp"
pg_version  = 17
connections = 300

"""mcptrace's overhead plugin: what every run costs the host, its budget, and calibrated cost estimates."""

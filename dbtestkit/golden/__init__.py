"""The golden layer: a golden database built once per fingerprint, and clones of it. Framework-free."""

"""Identity: the directory with keys, the signed envelope, signing and verifying."""

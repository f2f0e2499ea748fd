"""The key holder's side: HTTP client, CLI, verdict decryption, audit, demos."""

"""Bulk scoring of mail archives on Ray: every stored message of an archive scored with a
sealed model, verdicts written as packed ciphertexts to a Parquet dataset, decrypted offline
by the key holder (`sealdog verdicts --from`).

Data flows one way, as on the server: `reading` (archives -> named raw messages) ->
`scorer` (the server's own scoring code: features -> packed, blinded, re-randomised
ciphertexts) -> `archive` (Parquet parts written atomically; what makes a run resumable).
`job` drives the three on a Ray cluster (a local one by default). Ray is an optional extra
(`sealdog[ray]`); only `job` imports it.
"""

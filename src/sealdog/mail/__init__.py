"""E-mail as the featuriser sees it, shared by the trainer and the server.

Data flows one way: raw bytes (`sources` for scoring, `corpora` for labelled training mail,
`duplicates` to find repeated messages) -> subject and body text, or headers and MIME
structure (`message`) -> sparse count vectors (`featuriser`, with the header term families
of spec version 2 in `header_terms`). This package imports nothing else of Sealdog, so the
server can use it without reaching into the trainer, and both sides run the same
bytes-for-bytes featuriser code.
"""

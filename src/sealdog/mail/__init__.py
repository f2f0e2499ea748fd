"""E-mail as the featuriser sees it, shared by the trainer and the server.

Data flows one way: raw bytes (`sources`) -> subject and body text (`message`) -> sparse
count vectors (`featuriser`). This package imports nothing else of Sealdog, so the server
can use it without reaching into the trainer, and both sides run the same bytes-for-bytes
featuriser code.
"""

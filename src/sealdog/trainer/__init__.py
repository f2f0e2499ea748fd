"""The key holder's training side: corpora to matrices, training, evaluation, sealing.

E-mail parsing and the featuriser are in `sealdog.mail`, shared with the server.
"""

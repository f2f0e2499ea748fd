"""The deploying party's service: FastAPI app, storage, auth, scoring.

It never imports a secret key (tests/server/test_no_secret_key.py) nor the trainer or the
client (tests/test_architecture.py).
"""

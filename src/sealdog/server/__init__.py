"""The deploying party's service: FastAPI app, storage, auth, scoring. Filled in by issue 4. Never imports a secret key."""

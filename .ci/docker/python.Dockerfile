# Stand-in for python:3.11-slim-bookworm, built from the locally bootstrapped Debian base
# (no Docker Hub here): Debian's Python 3.11 with venv and pip, and the host's extra CA
# certificates (ca/*.crt in the build context) so pip inside builds can verify TLS through
# this site's proxy. Python's and pip's own bundles are pointed at the system store.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3.11 python3-venv python3-pip ca-certificates \
 && update-ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]

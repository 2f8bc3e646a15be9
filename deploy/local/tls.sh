#!/usr/bin/env bash
# A private certificate authority and one server certificate (127.0.0.1 and localhost) for the
# services deploy/local/services.sh starts, so their TLS listeners can be tried on one machine:
# Kafka's SASL_SSL listener, and the tests' TLS Redis and PostgreSQL. Never for production: a
# university's services use certificates from its own CA.
#
# usage: deploy/local/tls.sh DIR    (idempotent: an existing DIR/ca.pem is kept)
# writes: ca.pem (trust this), server.pem + server.key (PEM), server.p12 (PKCS#12 for Java,
# password in server.p12.password)
set -euo pipefail

dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
cd "$dir"
[[ -f ca.pem && -f server.p12 ]] && exit 0

umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=LEAP local CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
  -extfile server.ext -out server.pem 2>/dev/null
# Not a secret worth the name: it only protects a local test key that sits beside it.
openssl rand -hex 16 >server.p12.password
openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem -name server \
  -passout "file:server.p12.password" -out server.p12
rm -f server.csr server.ext ca.srl
chmod 644 ca.pem server.pem

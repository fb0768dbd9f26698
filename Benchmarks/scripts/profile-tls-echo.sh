#!/bin/bash
# Instructions per echoed message over TLS (wss://), under callgrind: profile-echo.sh with a
# throw-away CA and an ECDSA P-256 certificate for localhost (made in $TLS_DIR, or a temporary
# directory). Compare with the plaintext figure of profile-echo.sh (same arguments).
# usage: Benchmarks/scripts/profile-tls-echo.sh raw|envelope [CONNS] [ROUNDS] [WINDOW]
set -e
TLS_DIR=${TLS_DIR:-$(mktemp -d)}
export TLS_CERT=$TLS_DIR/cert.pem TLS_KEY=$TLS_DIR/key.pem TLS_CA=$TLS_DIR/ca.pem
if [ ! -f "$TLS_CERT" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLS_DIR/ca.key" -out "$TLS_CA" -days 30 \
    -subj /CN=BenchCA -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLS_KEY" -out "$TLS_DIR/s.csr" -subj /CN=localhost 2>/dev/null
  printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" > "$TLS_DIR/ext"
  openssl x509 -req -in "$TLS_DIR/s.csr" -CA "$TLS_CA" -CAkey "$TLS_DIR/ca.key" -set_serial 7 -days 30 -extfile "$TLS_DIR/ext" -out "$TLS_CERT" 2>/dev/null
fi
exec "$(dirname "$0")/profile-echo.sh" "$@"

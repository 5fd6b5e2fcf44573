#!/bin/sh
# Entrypoint of the lab's docker:dind (behindproxy lab: Debian 12's docker.io,
# not Docker's image), with the behaviour of Docker's dind entrypoint:
#
# - No arguments, or a first argument that is a flag: run dockerd listening on
#   /var/run/docker.sock and on TCP, with the arguments as dockerd flags
#   (--registry-mirror=..., --storage-driver=vfs, --bip=...).
# - DOCKER_TLS_CERTDIR empty: TCP port 2375, no TLS (--tls=false).
# - DOCKER_TLS_CERTDIR set (the image's default is /certs): TCP port 2376 with
#   TLS and client certificates required. A CA, a server certificate and a
#   client certificate are made in $DOCKER_TLS_CERTDIR/{ca,server,client} when
#   missing (or, for server and client, no longer signed by that CA), so a job
#   that shares $DOCKER_TLS_CERTDIR/client through a volume can connect.
#   DOCKER_TLS_SAN adds subjectAltName entries (DNS:name,IP:address).
# - Anything else (`dockerd ...`, `sh`) is run as given; `dockerd ...` gets the
#   certificates made as above, but no listening flags.
set -eu

# Fresh keys for every new service container are cheap at this size.
KEY_BITS=2048
DAYS=825

signed_by_ca() {
  [ -s "$1/cert.pem" ] && [ -s "$1/key.pem" ] \
    && openssl verify -CAfile "$certdir/ca/cert.pem" "$1/cert.pem" >/dev/null 2>&1
}

# make_certificate DIR COMMON_NAME EXTENSIONS
make_certificate() {
  dir=$1
  mkdir -p "$dir"
  if signed_by_ca "$dir"; then
    cp "$certdir/ca/cert.pem" "$dir/ca.pem"
    return
  fi
  (umask 077 && openssl genrsa -out "$dir/key.pem" "$KEY_BITS" 2>/dev/null)
  printf '%s\n' "$3" >"$dir/openssl.cnf"
  openssl req -new -key "$dir/key.pem" -subj "/CN=$2" -out "$dir/csr.pem"
  openssl x509 -req -in "$dir/csr.pem" -CA "$certdir/ca/cert.pem" -CAkey "$certdir/ca/key.pem" \
    -CAcreateserial -days "$DAYS" -sha256 -extfile "$dir/openssl.cnf" -out "$dir/cert.pem" 2>/dev/null
  rm -f "$dir/csr.pem" "$dir/openssl.cnf"
  cp "$certdir/ca/cert.pem" "$dir/ca.pem"
}

make_certificates() {
  certdir=$DOCKER_TLS_CERTDIR
  mkdir -p "$certdir/ca"
  if [ ! -s "$certdir/ca/key.pem" ] || [ ! -s "$certdir/ca/cert.pem" ]; then
    (umask 077 && openssl genrsa -out "$certdir/ca/key.pem" "$KEY_BITS" 2>/dev/null)
    openssl req -new -x509 -key "$certdir/ca/key.pem" -days "$DAYS" -sha256 \
      -subj "/CN=docker:dind CA" -out "$certdir/ca/cert.pem"
  fi
  san="DNS:docker,DNS:localhost,DNS:$(hostname),IP:127.0.0.1"
  for address in $(hostname -i 2>/dev/null || true); do
    san="$san,IP:$address"
  done
  make_certificate "$certdir/server" "docker:dind server" \
    "subjectAltName = $san${DOCKER_TLS_SAN:+,$DOCKER_TLS_SAN}
extendedKeyUsage = serverAuth"
  make_certificate "$certdir/client" "docker:dind client" "extendedKeyUsage = clientAuth"
}

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  if [ -n "${DOCKER_TLS_CERTDIR:-}" ]; then
    set -- dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2376 --tlsverify \
      --tlscacert="$DOCKER_TLS_CERTDIR/server/ca.pem" --tlscert="$DOCKER_TLS_CERTDIR/server/cert.pem" \
      --tlskey="$DOCKER_TLS_CERTDIR/server/key.pem" "$@"
  else
    # --tls=false states the intent, which spares the warning and the delay
    # dockerd otherwise adds when it listens on TCP without TLS.
    set -- dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 --tls=false "$@"
  fi
fi

if [ "$1" = dockerd ]; then
  if [ -n "${DOCKER_TLS_CERTDIR:-}" ]; then
    make_certificates
  fi
  # Mounts made inside dind (volumes of its containers) must propagate.
  mount --make-rshared / 2>/dev/null || true
  # A container restarted with its old state must not find the old pids.
  rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
fi

exec "$@"

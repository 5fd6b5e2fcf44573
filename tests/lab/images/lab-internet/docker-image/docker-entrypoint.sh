#!/bin/sh
# Entrypoint of the lab's docker:cli (behindproxy lab: Debian 12's docker.io,
# not Docker's image), with the behaviour of Docker's docker image: a first
# argument that is a flag or a docker command runs `docker` with the arguments;
# without DOCKER_HOST and without a local socket, the client is pointed at a
# service called `docker`: tcp://docker:2376 with TLS when the client
# certificates are in $DOCKER_TLS_CERTDIR/client (shared with a dind service
# through a volume), else tcp://docker:2375.
set -eu

if [ "$#" -eq 0 ]; then
  set -- sh
fi
if [ "${1#-}" != "$1" ] || docker help "$1" >/dev/null 2>&1; then
  set -- docker "$@"
fi

if [ -z "${DOCKER_HOST:-}" ] && [ ! -S /var/run/docker.sock ]; then
  client=${DOCKER_TLS_CERTDIR:+$DOCKER_TLS_CERTDIR/client}
  if [ -n "$client" ] && [ -s "$client/ca.pem" ] && [ -s "$client/cert.pem" ] && [ -s "$client/key.pem" ]; then
    export DOCKER_HOST=tcp://docker:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$client"
  else
    export DOCKER_HOST=tcp://docker:2375
  fi
fi

exec "$@"

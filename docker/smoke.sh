#!/usr/bin/env bash
# Build the image, start docker/compose.yaml with podman-compose (PostgreSQL, two hub nodes, the
# example receiver) and check that it works: both nodes healthy, the receiver subscribed, an
# event published to either node arrives at the receiver as a verified SET, both nodes serve
# the same JWKS. Everything is torn down at the end (KEEP=1 keeps it running).
# Not run by CI: it needs podman and podman-compose, and pulls images unless told otherwise.
#
#   docker/smoke.sh
#   SETHUB_BASE=localhost/debian-python:bookworm \
#   SETHUB_POSTGRES_BASE=localhost/debian-python:bookworm \
#   PIP_CA=/etc/ssl/certs/ca-certificates.crt docker/smoke.sh
#
# SETHUB_BASE: the Python base image (default python:3.11-slim). SETHUB_POSTGRES_BASE: build
# PostgreSQL from Debian's package on this base (docker/postgres.Dockerfile) instead of pulling
# postgres:16. PIP_CA: a CA bundle pip needs behind a TLS-intercepting proxy (a build secret).
# HUB1_PORT, HUB2_PORT: the nodes' ports on 127.0.0.1 (default 8081, 8082). Every request this
# script sends goes to 127.0.0.1; the containers talk only on the compose network.
set -euo pipefail
cd "$(dirname "$0")/.."

project=sethub-smoke
export SETHUB_IMAGE=localhost/sethub:smoke
export SETHUB_BASE=${SETHUB_BASE:-python:3.11-slim}
export HUB1_PORT=${HUB1_PORT:-8081} HUB2_PORT=${HUB2_PORT:-8082}
SETHUB_SECRET_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
POSTGRES_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
export SETHUB_SECRET_KEY POSTGRES_PASSWORD
compose=(podman-compose -p "$project" -f docker/compose.yaml --profile example)

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; "${compose[@]}" logs --tail=30 >&2 || true; exit 1; }
container() { podman ps -a -q --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1"; }
hub_post() {  # PORT PATH TOKEN BODY: POST JSON to a node on loopback, print the answer
    curl --silent --show-error --noproxy '*' --max-time 10 -X POST "http://127.0.0.1:$1$2" \
        -H "Authorization: Bearer $3" -H 'Content-Type: application/json' --data "$4"
}
wait_for() {  # SECONDS DESCRIPTION COMMAND...: retry COMMAND each second until it succeeds
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "$what (waited until timeout)"
        sleep 1
    done
}
teardown() {  # podman-compose's down -v keeps the containers' anonymous volumes: rm -v does not
    podman ps -a -q --filter "label=com.docker.compose.project=$project" |
        xargs --no-run-if-empty podman rm --force --volumes >/dev/null 2>&1 || true
    "${compose[@]}" down -v >/dev/null 2>&1 || true
}
cleanup() {
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "KEEP=1: left running; stop with: ${compose[*]} down -v"
    else
        teardown
    fi
}

step "build the hub image from $SETHUB_BASE"
secret=()
[[ -n ${PIP_CA:-} ]] && secret=(--secret "id=pip-ca,src=$PIP_CA")
podman build --format docker -f docker/Dockerfile --build-arg "BASE=$SETHUB_BASE" \
    "${secret[@]}" -t "$SETHUB_IMAGE" .
if [[ -n ${SETHUB_POSTGRES_BASE:-} ]]; then
    step "build PostgreSQL from Debian's package on $SETHUB_POSTGRES_BASE"
    export SETHUB_POSTGRES_IMAGE=localhost/sethub-postgres:smoke
    podman build -f docker/postgres.Dockerfile --build-arg "BASE=$SETHUB_POSTGRES_BASE" \
        -t "$SETHUB_POSTGRES_IMAGE" docker
fi

step "the image refuses to listen on every address without a public URL"
if out=$(timeout 60 podman run --rm "$SETHUB_IMAGE" 2>&1); then
    fail "sethub serve started without --public-url: $out"
fi
grep -q -- '--public-url' <<<"$out" || fail "no hint at --public-url: $out"

teardown
trap cleanup EXIT

# PostgreSQL first, the nodes once it is ready: podman before 4.6 cannot wait for depends_on's
# service_healthy, and no systemd timer runs healthchecks in a bare container host.
step "start PostgreSQL"
"${compose[@]}" up -d --no-build postgres
postgres=$(container postgres)
wait_for 90 "PostgreSQL healthy" podman healthcheck run "$postgres"

step "start two hub nodes at once on the new database: they make one key set between them"
"${compose[@]}" up -d --no-build --no-deps hub1 hub2
hub1=$(container hub1)
hub2=$(container hub2)
wait_for 90 "hub1 healthy (the image's HEALTHCHECK)" podman healthcheck run "$hub1"
wait_for 90 "hub2 healthy (the image's HEALTHCHECK)" podman healthcheck run "$hub2"
[[ $(podman exec "$hub1" id -u) != 0 ]] || fail "the hub runs as root"

step "tokens, made inside a hub container against the database"
token() {  # SCOPE: the token, the last line on stdout; on failure, what the command said
    local out errors
    errors=$(mktemp)
    out=$(podman exec "$hub1" sethub tokens create --scope "$1" 2>"$errors") ||
        fail "sethub tokens create: $(cat "$errors")"
    rm -f "$errors"
    tail -n 1 <<<"$out"
}
SUBSCRIBER_TOKEN=$(token subscribe:login)
publisher=$(token publish)
export SUBSCRIBER_TOKEN
[[ -n $SUBSCRIBER_TOKEN && -n $publisher ]] || fail "sethub tokens create printed no token"

step "start the receiver; it subscribes through the alias both nodes answer to"
"${compose[@]}" up -d --no-build --no-deps receiver
receiver=$(container receiver)
wait_for 60 "the receiver subscribed" sh -c "podman logs '$receiver' 2>&1 | grep -q '^subscribed to '"

for node in 1 2; do
    port_var=HUB${node}_PORT
    step "publish an event to hub$node on 127.0.0.1:${!port_var}"
    answer=$(hub_post "${!port_var}" /events "$publisher" \
        "{\"type\":\"loginFailed\",\"subject\":{\"format\":\"email\",\"email\":\"hub$node@example.com\"},\"data\":{\"reason\":\"smoke test\"}}")
    echo "$answer"
    grep -q '"subscriptions": 1' <<<"$answer" || fail "the event did not reach one subscription"
    wait_for 60 "the receiver verified the SET of the event published to hub$node" \
        sh -c "podman logs '$receiver' 2>&1 | grep -q '^verified login-failed for .*hub$node@example.com'"
done
podman logs "$receiver" 2>&1 | grep '^verified'

step "both nodes publish the same signing keys"
kids() {  # the key ids a node publishes, sorted
    curl --silent --show-error --noproxy '*' --max-time 10 \
        "http://127.0.0.1:$1/.well-known/jwks.json" |
        python3 -c 'import json, sys; print(sorted(k["kid"] for k in json.load(sys.stdin)["keys"]))'
}
kids1=$(kids "$HUB1_PORT")
kids2=$(kids "$HUB2_PORT")
echo "hub1 $kids1, hub2 $kids2"
[[ $kids1 != "[]" && $kids1 == "$kids2" ]] || fail "the nodes publish different keys"

step "a key rotated in hub1's container, in the database, is published by both nodes"
podman exec "$hub1" sethub keys rotate --grace 60 >/dev/null 2>&1 || fail "sethub keys rotate"
rotated() {
    local now1 now2
    now1=$(kids "$HUB1_PORT") && now2=$(kids "$HUB2_PORT") && [[ $now1 != "$kids1" && $now1 == "$now2" ]]
}
wait_for 10 "both nodes publish the new key" rotated
echo "both publish $(kids "$HUB1_PORT")"

printf '\nsmoke test passed: PostgreSQL, two healthy hub nodes, a verified SET at the receiver\n'

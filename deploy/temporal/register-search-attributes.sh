#!/bin/sh
# Registers Mutator's search attributes (all Keyword) in the Temporal namespace.
#
# Run by the one-shot `temporal-setup` service (temporalio/admin-tools image) in
# docker-compose.yml. Idempotent: it creates only the attributes that are missing, and it
# retries until the server answers and the namespace exists (bounded by
# SETUP_MAX_ATTEMPTS x SETUP_SLEEP_SECONDS). Exit 0 when all attributes are listed.
#
# The Mutator worker also registers missing attributes at start; this service makes them
# exist before any worker or request does.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
MAX_ATTEMPTS="${SETUP_MAX_ATTEMPTS:-90}"
SLEEP_SECONDS="${SETUP_SLEEP_SECONDS:-2}"
# Keep in step with mutator.temporal.SEARCH_ATTRIBUTES.
ATTRIBUTES="MutationStateId MutationName MutationStatus MutationRequester"

log() {
    echo "temporal-setup: $*"
}

retry() {
    # retry DESCRIPTION COMMAND...: run COMMAND until it succeeds or the attempts run out.
    what="$1"
    shift
    attempt=1
    until "$@" >/dev/null 2>&1; do
        if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
            log "gave up after $attempt attempts: $what"
            "$@" || true
            exit 1
        fi
        log "waiting: $what (attempt $attempt/$MAX_ATTEMPTS)"
        attempt=$((attempt + 1))
        sleep "$SLEEP_SECONDS"
    done
}

listed() {
    temporal operator search-attribute list --address "$ADDRESS" --namespace "$NAMESPACE" \
        2>/dev/null | grep -Eq "(^|[^A-Za-z0-9_])$1([^A-Za-z0-9_]|$)"
}

serving() {
    temporal operator cluster health --address "$ADDRESS" | grep -q SERVING
}

all_listed() {
    for name in $ATTRIBUTES; do
        listed "$name" || return 1
    done
}

create_missing() {
    for name in $ATTRIBUTES; do
        if listed "$name"; then
            continue
        fi
        temporal operator search-attribute create --address "$ADDRESS" \
            --namespace "$NAMESPACE" --name "$name" --type Keyword || return 1
        log "created $name (Keyword)"
    done
}

retry "Temporal at $ADDRESS serving" serving
retry "namespace $NAMESPACE registered" \
    temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE"
retry "search attributes created in $NAMESPACE" create_missing
retry "search attributes listed in $NAMESPACE" all_listed
log "search attributes ready in namespace $NAMESPACE: $ATTRIBUTES"

#!/usr/bin/env bash
# Redis for runwright: the BullMQ queues and the run store. Two settings are not negotiable:
#   - maxmemory-policy noeviction: an evicted key is a lost job or a half-recorded run; Redis must refuse writes
#     (runwright then fails loudly and retries) rather than silently drop data.
#   - AOF persistence, fsync every second: a restart loses at most ~1 s of step outcomes, not a snapshot period.
#
# Memorystore for Redis (the `gcloud redis instances` product) offers RDB snapshots only, no AOF; AOF is offered by
# Memorystore for Valkey (Redis-protocol compatible, what ioredis and BullMQ speak), used here with cluster mode
# DISABLED: runwright's run store uses multi-key Lua scripts and BullMQ keys without cluster hash tags, so it needs
# one keyspace on one primary. One replica gives automatic failover.
# Check the flag values against `gcloud memorystore instances create --help` of your gcloud version.
set -euo pipefail
: "${PROJECT_ID:?source deploy/env.sh}" "${REGION:?}" "${NETWORK:?}" "${SUBNET:?}" "${VALKEY_INSTANCE:?}"

gcloud services enable memorystore.googleapis.com networkconnectivity.googleapis.com serviceconsumermanagement.googleapis.com --project "$PROJECT_ID"

# Memorystore for Valkey connects through Private Service Connect: one service connection policy per network+region.
gcloud network-connectivity service-connection-policies create "runwright-valkey-${REGION}" \
  --project "$PROJECT_ID" --region "$REGION" --network "$NETWORK" \
  --service-class gcp-memorystore --subnets "https://www.googleapis.com/compute/v1/projects/${PROJECT_ID}/regions/${REGION}/subnetworks/${SUBNET}" \
  || echo "(service connection policy exists already)"

gcloud memorystore instances create "$VALKEY_INSTANCE" \
  --project "$PROJECT_ID" --location "$REGION" \
  --mode cluster-disabled \
  --shard-count 1 --replica-count 1 --node-type standard-small \
  --persistence-config-mode aof --aof-config-append-fsync every-sec \
  --engine-configs maxmemory-policy=noeviction \
  --psc-auto-connections "network=projects/${PROJECT_ID}/global/networks/${NETWORK},projectId=${PROJECT_ID}"

echo "The endpoint to put in REDIS_HOST (deploy/env.sh):"
gcloud memorystore instances describe "$VALKEY_INSTANCE" --project "$PROJECT_ID" --location "$REGION" --format 'value(endpoints)'

# Verify the two settings once the instance is up (from a VM or Cloud Shell in the same VPC):
#   redis-cli -h "$REDIS_HOST" CONFIG GET maxmemory-policy   → noeviction
#   redis-cli -h "$REDIS_HOST" CONFIG GET appendonly         → yes

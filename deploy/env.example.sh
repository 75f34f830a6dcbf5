# Copy to deploy/env.sh, fill in, then `source deploy/env.sh` before the scripts in deploy/.
export PROJECT_ID=my-project            # where runwright runs (and, in the simple setup, the services it repairs)
export REGION=us-central1
export NETWORK=default                   # VPC network that reaches Memorystore (Direct VPC egress from Cloud Run)
export SUBNET=default                    # a subnet of NETWORK in REGION
export AR_REPO=runwright                 # Artifact Registry (Docker) repository for runwright's own image
export IMAGE_TAG=v0.1.0
export IMAGE="${REGION}-docker.pkg.dev/${PROJECT_ID}/${AR_REPO}/runwright:${IMAGE_TAG}"
export RUNWRIGHT_SA="runwright@${PROJECT_ID}.iam.gserviceaccount.com"
export PUSH_SA="runwright-pubsub-push@${PROJECT_ID}.iam.gserviceaccount.com"
export VALKEY_INSTANCE=runwright
# Filled in along the way (deploy/memorystore.sh and the API deploy print them):
export REDIS_HOST=""                     # the Memorystore endpoint's IP
export API_URL=""                        # https://runwright-api-....run.app

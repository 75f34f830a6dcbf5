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
# Slack approvals (ids from the Slack app's settings; see docs/API.md "Authentication"):
export SLACK_TEAM_ID=""                  # T… workspace id
export SLACK_APP_ID=""                   # A… app id
export SLACK_CHANNEL_ID=""               # C… id of the approval channel
export SLACK_APPROVERS=""                # U…/S… ids allowed to decide gates that runbooks and targets name nobody for
export RUNWRIGHT_SLACK_USERS=""          # U0ALICE=alice,…: Slack user = API user (one identity per person)

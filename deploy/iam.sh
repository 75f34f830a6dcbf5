#!/usr/bin/env bash
# Service accounts and IAM for runwright. Exactly these, and why:
#
# runwright@  — the identity of both Cloud Run services (API and worker).
#   roles/cloudbuild.builds.editor   deploy.build creates Cloud Builds of the pushed commit, lists them by tag (a
#                                    re-delivered step adopts its build) and reads them (status, log URL, digest).
#   roles/run.developer              deploy.job reads the target Cloud Run job, updates its image (etag kept), runs
#                                    it and reads the execution; deploy.rollback updates the image back.
#   roles/logging.viewer             deploy.verify_logs lists the job's log entries (entries.list).
#   roles/iam.serviceAccountUser     ON THE JOB'S RUNTIME SERVICE ACCOUNT ONLY (not project-wide): updating a job that
#                                    runs as a service account requires actAs on that account. Likewise on the build
#                                    service account named in the target's cloudbuild.yaml (serviceAccount:).
#   roles/secretmanager.secretAccessor  ON EACH runwright SECRET ONLY: Cloud Run injects the Slack tokens, API tokens
#                                    and the targets file from Secret Manager as this identity.
#   (a least-privilege alternative to the first three: the custom role in deploy/iam/runwright-role.yaml)
#   Not needed: Redis (reached over the VPC, no IAM auth), Artifact Registry (the build's own service account pushes
#   the image; Cloud Run's service agent pulls it), Pub/Sub (runwright only receives pushes).
#
# runwright-pubsub-push@  — the identity Pub/Sub signs push requests with (OIDC). runwright checks the token's
#   audience and that its email is this account (RUNWRIGHT_PUBSUB_AUDIENCE / RUNWRIGHT_PUBSUB_SERVICE_ACCOUNT).
#   It needs no role of its own; the Pub/Sub service agent needs roles/iam.serviceAccountTokenCreator on it to mint
#   the tokens.
#
# The log sink's writer identity (created by deploy/log-trigger.sh) gets roles/pubsub.publisher on the alerts topic.
set -euo pipefail
: "${PROJECT_ID:?source deploy/env.sh}" "${RUNWRIGHT_SA:?}" "${PUSH_SA:?}"
JOB_SA="${JOB_SA:?set JOB_SA to the service account your Cloud Run job runs as}"
BUILD_SA="${BUILD_SA:-}"   # the serviceAccount: of the target's build config, if it names one
PROJECT_NUMBER=$(gcloud projects describe "$PROJECT_ID" --format 'value(projectNumber)')

gcloud iam service-accounts create runwright --project "$PROJECT_ID" --display-name "runwright (API and worker)" || true
gcloud iam service-accounts create runwright-pubsub-push --project "$PROJECT_ID" --display-name "runwright Pub/Sub push (OIDC)" || true

for role in roles/cloudbuild.builds.editor roles/run.developer roles/logging.viewer; do
  gcloud projects add-iam-policy-binding "$PROJECT_ID" --member "serviceAccount:${RUNWRIGHT_SA}" --role "$role" --condition None >/dev/null
done
gcloud iam service-accounts add-iam-policy-binding "$JOB_SA" --project "$PROJECT_ID" \
  --member "serviceAccount:${RUNWRIGHT_SA}" --role roles/iam.serviceAccountUser >/dev/null
if [ -n "$BUILD_SA" ]; then
  gcloud iam service-accounts add-iam-policy-binding "$BUILD_SA" --project "$PROJECT_ID" \
    --member "serviceAccount:${RUNWRIGHT_SA}" --role roles/iam.serviceAccountUser >/dev/null
fi
for secret in runwright-api-tokens runwright-slack-bot-token runwright-slack-signing-secret runwright-targets; do
  gcloud secrets describe "$secret" --project "$PROJECT_ID" >/dev/null 2>&1 || { echo "iam.sh: secret $secret does not exist yet: create the secrets first (docs/PRODUCTION.md, step 4)" >&2; exit 1; }
  gcloud secrets add-iam-policy-binding "$secret" --project "$PROJECT_ID" \
    --member "serviceAccount:${RUNWRIGHT_SA}" --role roles/secretmanager.secretAccessor >/dev/null
done
gcloud iam service-accounts add-iam-policy-binding "$PUSH_SA" --project "$PROJECT_ID" \
  --member "serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com" \
  --role roles/iam.serviceAccountTokenCreator >/dev/null
echo "IAM set for ${RUNWRIGHT_SA} and ${PUSH_SA}"

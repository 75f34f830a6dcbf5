#!/usr/bin/env bash
# The log-based trigger: a log sink routes the target job's SQLAlchemy errors to a Pub/Sub topic; a push
# subscription delivers each one to runwright's /intake/pubsub with an OIDC token signed as runwright-pubsub-push@
# (runwright verifies audience and email). Intake dedupes by fingerprint and throttles per runbook (policy.throttle),
# so a burst of identical errors — including the ones the job logs again while runwright verifies — makes one run.
set -euo pipefail
: "${PROJECT_ID:?source deploy/env.sh}" "${PUSH_SA:?}" "${API_URL:?deploy the API first and set API_URL}"
JOB="${JOB:?set JOB to the Cloud Run job to watch, e.g. dev-content-worker}"
TOPIC=runwright-alerts

gcloud services enable pubsub.googleapis.com logging.googleapis.com --project "$PROJECT_ID"
gcloud pubsub topics create "$TOPIC" --project "$PROJECT_ID" || true
gcloud pubsub topics create "${TOPIC}-dead" --project "$PROJECT_ID" || true

# What counts as an alert: errors of that job that name SQLAlchemy (the seed's `"sqlalchemy"` text search).
gcloud logging sinks create "runwright-${JOB}" "pubsub.googleapis.com/projects/${PROJECT_ID}/topics/${TOPIC}" \
  --project "$PROJECT_ID" \
  --log-filter "resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${JOB}\" AND severity>=ERROR AND \"sqlalchemy\"" \
  || echo "(sink exists already)"
WRITER=$(gcloud logging sinks describe "runwright-${JOB}" --project "$PROJECT_ID" --format 'value(writerIdentity)')
gcloud pubsub topics add-iam-policy-binding "$TOPIC" --project "$PROJECT_ID" --member "$WRITER" --role roles/pubsub.publisher >/dev/null

gcloud pubsub subscriptions create runwright-alerts-push --project "$PROJECT_ID" \
  --topic "$TOPIC" \
  --push-endpoint "${API_URL}/intake/pubsub" \
  --push-auth-service-account "$PUSH_SA" \
  --push-auth-token-audience "${API_URL}/intake/pubsub" \
  --ack-deadline 30 \
  --min-retry-delay 10s --max-retry-delay 600s \
  --dead-letter-topic "${TOPIC}-dead" --max-delivery-attempts 10 \
  || echo "(subscription exists already)"
# The Pub/Sub service agent forwards undeliverable messages to the dead-letter topic and acks them on the subscription.
PROJECT_NUMBER=$(gcloud projects describe "$PROJECT_ID" --format 'value(projectNumber)')
PUBSUB_AGENT="serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
gcloud pubsub topics add-iam-policy-binding "${TOPIC}-dead" --project "$PROJECT_ID" --member "$PUBSUB_AGENT" --role roles/pubsub.publisher >/dev/null
gcloud pubsub subscriptions add-iam-policy-binding runwright-alerts-push --project "$PROJECT_ID" --member "$PUBSUB_AGENT" --role roles/pubsub.subscriber >/dev/null
echo "log sink runwright-${JOB} → ${TOPIC} → push ${API_URL}/intake/pubsub (OIDC as ${PUSH_SA})"

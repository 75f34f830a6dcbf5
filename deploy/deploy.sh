#!/usr/bin/env bash
# Build runwright's image with Cloud Build and (re)deploy both Cloud Run services from deploy/run/*.yaml.
set -euo pipefail
: "${PROJECT_ID:?source deploy/env.sh}" "${REGION:?}" "${IMAGE:?}" "${AR_REPO:?}"
here=$(cd "$(dirname "$0")" && pwd)
gcloud artifacts repositories create "$AR_REPO" --project "$PROJECT_ID" --location "$REGION" --repository-format docker || true
gcloud builds submit "$here/.." --project "$PROJECT_ID" --region "$REGION" --tag "$IMAGE"
for svc in api worker; do
  envsubst < "$here/run/${svc}.service.yaml" > "/tmp/runwright-${svc}.yaml"
  gcloud run services replace "/tmp/runwright-${svc}.yaml" --project "$PROJECT_ID" --region "$REGION"
done
gcloud run services add-iam-policy-binding runwright-api --project "$PROJECT_ID" --region "$REGION" \
  --member allUsers --role roles/run.invoker >/dev/null
echo "API: $(gcloud run services describe runwright-api --project "$PROJECT_ID" --region "$REGION" --format 'value(status.url)')"

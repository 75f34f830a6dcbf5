// Environment variable names runwright never hands to target code, even when a targets file asks for them.
const RUNWRIGHT_OWN = /^(RUNWRIGHT_|SLACK_|GOOGLE_APPLICATION_CREDENTIALS$|CLOUDSDK_|REDIS_URL$)/i;

export function forbiddenEnvName(name: string): boolean {
  return RUNWRIGHT_OWN.test(name);
}

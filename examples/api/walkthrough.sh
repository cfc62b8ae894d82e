#!/usr/bin/env bash
# The README's curl walkthrough as a script. Needs a running service (npm start) and a
# platform-admin token:  KEYPLANE_TOKEN=kp_... bash examples/api/walkthrough.sh
# Requires curl (7.76 or later, for --fail-with-body) and jq. test/e2e/examples-api.test.ts runs it.
set -euo pipefail
: "${KEYPLANE_TOKEN:?export KEYPLANE_TOKEN=<the platform-admin token printed by the first npm start>}"
KP="${KEYPLANE_ENDPOINT:-http://127.0.0.1:8080}"
say() { printf '\n== %s\n' "$*"; }
api() { curl -sS --fail-with-body -H "Content-Type: application/json" "$@"; }

say "1. Create an organization (platform admin)"
ORG=$(api -X POST "$KP/v1/organizations" -H "Authorization: Bearer $KEYPLANE_TOKEN" \
  -d "{\"name\": \"Acme AI\", \"slug\": \"acme-$RANDOM\"}" | jq -r .id)
echo "organization: $ORG"

say "2. Create an admin token and a resolver token for it (each shown once)"
ADMIN=$(api -X POST "$KP/v1/organizations/$ORG/tokens" -H "Authorization: Bearer $KEYPLANE_TOKEN" \
  -d '{"role": "admin", "name": "infra team"}' | jq -r .token)
RESOLVER=$(api -X POST "$KP/v1/organizations/$ORG/tokens" -H "Authorization: Bearer $KEYPLANE_TOKEN" \
  -d '{"role": "resolver", "name": "chat backend"}' | jq -r .token)

say "3. See which providers exist and what their keys look like"
api "$KP/v1/providers" -H "Authorization: Bearer $ADMIN" | jq -r '.data[] | "\(.id)\t\(.key_prefix // "-")\t\(.default_env_var)"'

say "4. Store an Anthropic key (the response shows only the hint)"
CRED=$(api -X POST "$KP/v1/organizations/$ORG/credentials" -H "Authorization: Bearer $ADMIN" \
  -H "Idempotency-Key: walkthrough-anthropic-$ORG" \
  -d '{"provider": "anthropic", "name": "production", "api_key": "sk-ant-api03-EXAMPLEexampleEXAMPLEexample0000x9Qz", "is_default": true}')
echo "$CRED" | jq '{id, provider, key_hint, key_version, env_var, active}'
ID=$(echo "$CRED" | jq -r .id)

say "5. A key with the wrong prefix is refused with the expected prefix named"
curl -sS -X POST "$KP/v1/organizations/$ORG/credentials" -H "Authorization: Bearer $ADMIN" -H "Content-Type: application/json" \
  -d '{"provider": "anthropic", "name": "typo", "api_key": "sk-proj-not-an-anthropic-key"}' | jq '{status, code, errors}'

say "6. Update non-secret fields with optimistic concurrency (If-Match)"
ETAG=$(api -D - -o /dev/null "$KP/v1/organizations/$ORG/credentials/$ID" -H "Authorization: Bearer $ADMIN" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
api -X PATCH "$KP/v1/organizations/$ORG/credentials/$ID" -H "Authorization: Bearer $ADMIN" -H "If-Match: $ETAG" \
  -d '{"owner": "ml-platform", "rotation_period_days": 90}' | jq '{owner, rotation_period_days, rotation_due_at, version}'

say "7. Rotate, keeping the old key usable for 1 hour"
api -X POST "$KP/v1/organizations/$ORG/credentials/$ID/rotate" -H "Authorization: Bearer $ADMIN" \
  -d '{"api_key": "sk-ant-api03-EXAMPLEexampleEXAMPLEexample1111Zz9A", "grace_seconds": 3600}' | jq '{key_hint, key_version, rotated_at}'
api "$KP/v1/organizations/$ORG/credentials/$ID/versions" -H "Authorization: Bearer $ADMIN" | jq -c '.data[] | {key_version, key_hint, state}'

say "8. Resolve it the way an AI feature does (resolver token only)"
api -X POST "$KP/v1/organizations/$ORG/resolve" -H "Authorization: Bearer $RESOLVER" \
  -d '{"provider": "anthropic"}' | jq '{source, credential_id, key_hint, key_version, env_var, secret: (.secret[0:10] + "…")}'

say "9. Retire it: step 8 resolved it, so it is in use (409 credential_in_use for a day) unless forced"
api "$KP/v1/organizations/$ORG/credentials/$ID" -H "Authorization: Bearer $ADMIN" | jq .usage
api -X POST "$KP/v1/organizations/$ORG/credentials/$ID/deactivate?force=true" -H "Authorization: Bearer $ADMIN" | jq '{active}'
api -o /dev/null -w "delete: HTTP %{http_code}\n" -X DELETE "$KP/v1/organizations/$ORG/credentials/$ID?force=true" -H "Authorization: Bearer $ADMIN"

say "10. Everything above is in the hash-chained audit log"
api "$KP/v1/organizations/$ORG/audit-events?limit=100" -H "Authorization: Bearer $ADMIN" | jq -r '.data[] | "\(.seq)\t\(.action)\t\(.outcome)"'
api -X POST "$KP/v1/organizations/$ORG/audit-events/verify" -H "Authorization: Bearer $ADMIN" | jq .

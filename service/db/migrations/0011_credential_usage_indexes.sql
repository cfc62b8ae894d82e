-- Credential usage (last use, resolves in 30 days, resolves refused since a deactivation) is
-- derived from the audit events every resolve already writes, so a resolve costs no extra write.
-- These indexes keep those reads cheap for a whole page of credentials.

-- The successful resolves of a credential, newest first; the token is included so the last use
-- and the 30-day count are answered from the index alone.
create index audit_events_credential_resolve_idx on audit_events (organization_id, target_id, created_at desc)
  include (actor_token_id)
  where action = 'credential.resolve' and outcome = 'success';

-- Resolves that skipped inactive credentials name them in details.skipped_inactive (rare: only
-- while a credential that would have been chosen is deactivated).
create index audit_events_skipped_inactive_idx on audit_events using gin ((details -> 'skipped_inactive'))
  where action = 'credential.resolve' and details ? 'skipped_inactive';

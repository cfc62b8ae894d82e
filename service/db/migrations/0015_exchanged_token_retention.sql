-- Tokens issued by the workload identity exchange are ephemeral: the service deletes them once they
-- have been expired or revoked for KEYPLANE_EXCHANGED_TOKEN_RETENTION_DAYS, as it must never delete
-- a token a person created. identity_binding_id cannot tell the two apart for good (deleting the
-- binding sets it null), so exchanged tokens carry their own mark.
alter table api_tokens add column exchanged boolean not null default false;

-- The retention's lookup: exchanged tokens by the moment they stopped working.
create index api_tokens_exchanged_end_idx on api_tokens ((least(expires_at, revoked_at))) where exchanged;

-- The tokens exchanged so far: those that still name their binding, and those of deleted bindings,
-- which their identity.exchange audit event names. In the '*' scope (as keyplane_platform where the
-- login role may be it), as 0013 reads the audit events.
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'keyplane_platform')
     and pg_has_role(current_user, 'keyplane_platform', 'MEMBER') then
    set local role keyplane_platform;
  end if;
  perform set_config('keyplane.organization_id', '*', true);
  update api_tokens set exchanged = true where identity_binding_id is not null;
  update api_tokens t set exchanged = true
    from audit_events e
   where e.action = 'identity.exchange' and e.outcome = 'success'
     and e.organization_id = t.organization_id and e.details ->> 'token_id' = t.id
     and not t.exchanged;
  reset role;
end
$$;

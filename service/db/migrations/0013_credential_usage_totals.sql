-- Credential usage as running totals. Migration 0011 read usage from the resolve audit events, so
-- reading one credential cost O(its resolves): after ~10^5 resolves every create or rotate (whose
-- answer carries usage, and whose in-use guard reads it) slowed down by two orders of magnitude.
-- Here the audit group commit that already writes a batch of resolve events folds them into one
-- row per credential and UTC day, in the same statement (keyplane_append_audit with p_usage), so a
-- resolve still costs no write of its own and a read costs O(days).

create table credential_usage_daily (
  organization_id text not null references organizations (id) on delete cascade,
  -- No foreign key to credentials: a batch of resolve events can commit just after its credential
  -- was deleted, and must not fail the resolves for it. Deleting a credential deletes its rows.
  credential_id   text not null,
  day             date not null,
  -- Successful resolves that returned the credential.
  resolves        integer not null default 0 check (resolves >= 0),
  -- Resolves that skipped it while inactive (details.skipped_inactive); set to 0 on deactivation,
  -- so their sum is what was refused since the last deactivation.
  denied          integer not null default 0 check (denied >= 0),
  -- The day's last successful resolve and its token.
  last_used_at    timestamptz,
  last_used_by    text,
  primary key (organization_id, credential_id, day)
);

alter table credential_usage_daily enable row level security;
alter table credential_usage_daily force row level security;
create policy organization_scope on credential_usage_daily
  using (organization_id = current_setting('keyplane.organization_id', true))
  with check (organization_id = current_setting('keyplane.organization_id', true));

do $$
begin
  if exists (select 1 from pg_roles where rolname = 'keyplane_platform') then
    execute 'create policy platform_scope on credential_usage_daily to keyplane_platform using (true) with check (true)';
  else
    execute 'create policy platform_scope on credential_usage_daily '
      'using (current_setting(''keyplane.organization_id'', true) = ''*'') '
      'with check (current_setting(''keyplane.organization_id'', true) = ''*'')';
  end if;
end
$$;
-- No change notification: usage is not cached, and a notification per audit batch would empty
-- the resolve caches under load.

-- Adds one batch's totals (rows of credential_id, day, resolves, denied, last_used_at,
-- last_used_by, computed by the service) to an organization's rows. Batches of one organization
-- are serialized by its audit chain head, which the caller holds. PL/pgSQL, not SQL: a SQL
-- function's statement is planned on every call, which cost the append statement some 15 %;
-- PL/pgSQL keeps its plan for the session.
create function keyplane_fold_credential_usage(p_organization_id text, p_usage jsonb) returns void
language plpgsql as $$
begin
  insert into credential_usage_daily as d (organization_id, credential_id, day, resolves, denied, last_used_at, last_used_by)
  select p_organization_id, u.credential_id, u.day, u.resolves, u.denied, u.last_used_at, u.last_used_by
    from jsonb_to_recordset(p_usage) as u(credential_id text, day date, resolves integer, denied integer,
      last_used_at timestamptz, last_used_by text)
  on conflict (organization_id, credential_id, day) do update set
    resolves = d.resolves + excluded.resolves,
    denied = d.denied + excluded.denied,
    last_used_at = greatest(d.last_used_at, excluded.last_used_at),
    last_used_by = case when excluded.last_used_at >= d.last_used_at or d.last_used_at is null
      then coalesce(excluded.last_used_by, d.last_used_by) else d.last_used_by end;
end
$$;

-- keyplane_append_audit (0007) and, when it wrote the events, their usage totals: one statement,
-- one transaction. The five-argument form stays for older builds during an upgrade.
create function keyplane_append_audit(p_chain_key text, p_organization_id text, p_seq bigint, p_hash text, p_events jsonb, p_usage jsonb)
returns table (head_seq bigint, head_hash text)
language plpgsql as $$
begin
  return query select a.head_seq, a.head_hash from keyplane_append_audit(p_chain_key, p_organization_id, p_seq, p_hash, p_events) a;
  if not found and jsonb_array_length(p_usage) > 0 then
    perform keyplane_fold_credential_usage(p_organization_id, p_usage);
  end if;
end
$$;

-- The totals of the events written so far, in the '*' scope (as keyplane_platform where the login
-- role may be it). Denied resolves count only for inactive credentials, from their last
-- deactivation on (as 0011's reads did); an active credential's are 0 until it is deactivated.
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'keyplane_platform')
     and pg_has_role(current_user, 'keyplane_platform', 'MEMBER') then
    set local role keyplane_platform;
  end if;
  perform set_config('keyplane.organization_id', '*', true);
  insert into credential_usage_daily (organization_id, credential_id, day, resolves, denied, last_used_at, last_used_by)
  select u.organization_id, u.credential_id, u.day, sum(u.resolves)::int, sum(u.denied)::int, max(u.used_at),
         (array_agg(u.used_by order by u.used_at desc nulls last))[1]
    from (
      select e.organization_id, e.target_id as credential_id, (e.created_at at time zone 'UTC')::date as day,
             1 as resolves, 0 as denied, e.created_at as used_at, e.actor_token_id as used_by
        from audit_events e
       where e.action = 'credential.resolve' and e.outcome = 'success'
         and e.organization_id is not null and e.target_id is not null
      union all
      select e.organization_id, c.id, (e.created_at at time zone 'UTC')::date, 0, 1, null, null
        from credentials c
        join audit_events e on e.organization_id = c.organization_id and e.action = 'credential.resolve'
         and e.details ? 'skipped_inactive' and e.details -> 'skipped_inactive' ? c.id
       where not c.active
         and e.created_at >= coalesce((
               select max(d.created_at) from audit_events d
                where d.target_id = c.id and d.organization_id = c.organization_id
                  and ((d.action = 'credential.deactivate' and d.details ->> 'changed' = 'true')
                    or (d.action = 'credential.update' and d.details -> 'changed_fields' ? 'active'))
             ), c.created_at)
    ) u
   group by u.organization_id, u.credential_id, u.day;
  reset role;
end
$$;

-- Usage is no longer read from the audit events: their upkeep on every audit insert goes.
drop index audit_events_credential_resolve_idx;
drop index audit_events_skipped_inactive_idx;

-- A keyed audit chain. Until now hash = sha256(prev_hash || canonical_event), which anyone who can
-- write to the database can recompute after editing events. From here on the service computes
-- hash = HMAC-SHA256(audit key, prev_hash || canonical_event) itself: the audit key never reaches
-- the database (not even as a statement parameter, which PostgreSQL may log), so this function
-- only checks that the caller extended the chain's current head and stores what it was given.
--
-- Every event records how its hash was made (hash_alg): 'sha256' for the events written before
-- this migration, 'hmac-sha256:<audit key id>' after. The service seals where each chain's sha256
-- events end when it creates the audit key (audit_legacy_heads), so verify accepts sha256 events
-- only up to there and refuses an event rewritten as "legacy" later on.

alter table audit_events add column hash_alg text not null default 'sha256';
alter table audit_events alter column hash_alg drop default;
alter table audit_events add constraint audit_events_hash_alg_check
  check (hash_alg = 'sha256' or hash_alg like 'hmac-sha256:%');

-- The audit key: 32 random bytes wrapped by the master key like a data key (see envelope.ts,
-- wrapKeyMaterial, context 'keyplane-audit-key|<id>'); rotate-master-key re-wraps it.
create table audit_keys (
  id            text primary key,
  wrapped_key   bytea not null,
  master_key_id text not null,
  created_at    timestamptz not null default now()
);
alter table audit_keys enable row level security;
alter table audit_keys force row level security;

-- Per chain, its last event written before the audit key existed, sealed with the audit key.
create table audit_legacy_heads (
  chain_key       text primary key,
  organization_id text,
  seq             bigint not null check (seq >= 1),
  hash            text not null,
  audit_key_id    text not null references audit_keys (id),
  mac             text not null
);
alter table audit_legacy_heads enable row level security;
alter table audit_legacy_heads force row level security;
create policy organization_scope on audit_legacy_heads
  using (organization_id = current_setting('keyplane.organization_id', true))
  with check (organization_id = current_setting('keyplane.organization_id', true));

do $$
begin
  if exists (select 1 from pg_roles where rolname = 'keyplane_platform') then
    create policy platform_scope on audit_keys to keyplane_platform using (true) with check (true);
    create policy platform_scope on audit_legacy_heads to keyplane_platform using (true) with check (true);
  else
    create policy platform_scope on audit_keys
      using (current_setting('keyplane.organization_id', true) = '*')
      with check (current_setting('keyplane.organization_id', true) = '*');
    create policy platform_scope on audit_legacy_heads
      using (current_setting('keyplane.organization_id', true) = '*')
      with check (current_setting('keyplane.organization_id', true) = '*');
  end if;
end
$$;

-- The sha256 append is gone: a process still running an older build fails its audited requests
-- instead of writing unkeyed events after keyed ones.
drop function keyplane_append_audit(text, jsonb);

-- Appends events the service has already linked and hashed, starting from the head it believes
-- the chain has (p_seq, p_hash). The head's row lock serializes appends to one chain until the
-- transaction ends. When the head is not that one (another process appended meanwhile), nothing
-- is written and the actual head is returned, so the caller can hash again from it; otherwise
-- nothing is returned.
create function keyplane_append_audit(p_chain_key text, p_organization_id text, p_seq bigint, p_hash text, p_events jsonb)
returns table (head_seq bigint, head_hash text)
language plpgsql as $$
declare
  v_seq  bigint;
  v_hash text;
begin
  select h.seq, h.hash into v_seq, v_hash from audit_chain_heads h where h.chain_key = p_chain_key for update;
  if not found then
    insert into audit_chain_heads (chain_key, organization_id, seq, hash)
      values (p_chain_key, p_organization_id, 0, repeat('0', 64))
      on conflict (chain_key) do nothing;
    select h.seq, h.hash into v_seq, v_hash from audit_chain_heads h where h.chain_key = p_chain_key for update;
  end if;
  if v_seq <> p_seq or v_hash <> p_hash then
    return query select v_seq, v_hash;
    return;
  end if;
  insert into audit_events (id, chain_key, organization_id, seq, actor_token_id, actor_role, action, target_type,
    target_id, outcome, request_id, details, created_at, prev_hash, hash, hash_alg)
  select e.id, p_chain_key, e.organization_id, e.seq, e.actor_token_id, e.actor_role, e.action, e.target_type,
    e.target_id, e.outcome, e.request_id, e.details, e.created_at, e.prev_hash, e.hash, e.hash_alg
  from jsonb_to_recordset(p_events) as e(id text, organization_id text, seq bigint, actor_token_id text,
    actor_role text, action text, target_type text, target_id text, outcome text, request_id text, details jsonb,
    created_at timestamptz, prev_hash text, hash text, hash_alg text);
  update audit_chain_heads
    set seq = (p_events -> -1 ->> 'seq')::bigint, hash = p_events -> -1 ->> 'hash'
    where chain_key = p_chain_key;
end
$$;

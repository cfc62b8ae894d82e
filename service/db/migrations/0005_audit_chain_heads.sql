-- The last link of every audit chain, kept beside the chain. An append then locks and reads one
-- row by its key instead of searching the chain for its highest seq, so its cost no longer depends
-- on the chain's length or on how fresh the planner's statistics are (a chain growing from nothing
-- under load was planned as "fetch the whole chain, then sort"). verify also compares the head
-- with the chain's last event, which catches events removed from the end.
create table audit_chain_heads (
  chain_key       text primary key,
  organization_id text,
  seq             bigint not null check (seq >= 0),
  hash            text not null
);

alter table audit_chain_heads enable row level security;
alter table audit_chain_heads force row level security;
create policy organization_scope on audit_chain_heads
  using (organization_id = current_setting('keyplane.organization_id', true))
  with check (organization_id = current_setting('keyplane.organization_id', true));
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'keyplane_platform') then
    create policy platform_scope on audit_chain_heads to keyplane_platform using (true) with check (true);
  else
    create policy platform_scope on audit_chain_heads
      using (current_setting('keyplane.organization_id', true) = '*')
      with check (current_setting('keyplane.organization_id', true) = '*');
  end if;
end
$$;

create or replace function keyplane_append_audit(p_chain_key text, p_events jsonb) returns void
language plpgsql as $$
declare
  v_seq  bigint;
  v_prev text;
  v_hash text;
  e      jsonb;
begin
  -- The head's row lock serializes appends to one chain until the transaction ends.
  select seq, hash into v_seq, v_prev from audit_chain_heads where chain_key = p_chain_key for update;
  if not found then
    insert into audit_chain_heads (chain_key, organization_id, seq, hash)
      values (p_chain_key, p_events -> 0 ->> 'organization_id', 0, repeat('0', 64))
      on conflict (chain_key) do nothing;
    select seq, hash into v_seq, v_prev from audit_chain_heads where chain_key = p_chain_key for update;
  end if;
  for e in select value from jsonb_array_elements(p_events) loop
    v_seq := v_seq + 1;
    v_hash := encode(sha256(convert_to(v_prev || (e->>'canonical_prefix') || v_seq::text || (e->>'canonical_suffix'), 'UTF8')), 'hex');
    insert into audit_events (id, chain_key, organization_id, seq, actor_token_id, actor_role, action, target_type,
      target_id, outcome, request_id, details, created_at, prev_hash, hash)
    values (e->>'id', p_chain_key, e->>'organization_id', v_seq, e->>'actor_token_id', e->>'actor_role', e->>'action',
      e->>'target_type', e->>'target_id', e->>'outcome', e->>'request_id', e->'details', (e->>'created_at')::timestamptz,
      v_prev, v_hash);
    v_prev := v_hash;
  end loop;
  update audit_chain_heads set seq = v_seq, hash = v_prev where chain_key = p_chain_key;
end
$$;

-- Existing chains, read in the '*' scope (as keyplane_platform where the login role may be it).
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'keyplane_platform')
     and pg_has_role(current_user, 'keyplane_platform', 'MEMBER') then
    set local role keyplane_platform;
  end if;
  perform set_config('keyplane.organization_id', '*', true);
  insert into audit_chain_heads (chain_key, organization_id, seq, hash)
    select distinct on (chain_key) chain_key, organization_id, seq, hash from audit_events order by chain_key, seq desc;
  reset role;
end
$$;

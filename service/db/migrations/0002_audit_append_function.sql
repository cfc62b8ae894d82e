-- Appends audit events to one chain in a single round trip: lock the chain, read its last link,
-- then hash and insert each event. The service sends each event's canonical JSON split around its
-- sequence number (prefix, suffix), so the hash computed here is exactly the one
-- `chainHash(prev_hash, event)` computes in audit-chain.ts and `verify` re-computes.
create function keyplane_append_audit(p_chain_key text, p_events jsonb) returns void
language plpgsql as $$
declare
  v_seq  bigint;
  v_prev text;
  v_hash text;
  e      jsonb;
begin
  perform pg_advisory_xact_lock(hashtextextended('audit:' || p_chain_key, 7));
  select seq, hash into v_seq, v_prev from audit_events where chain_key = p_chain_key order by seq desc limit 1;
  v_seq := coalesce(v_seq, 0);
  v_prev := coalesce(v_prev, repeat('0', 64));
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
end
$$;

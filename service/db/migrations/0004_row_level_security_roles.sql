-- Row-level security the planner can estimate. The policies of 0003 (scope in ('*', organization_id)
-- through a function) reach the planner as an array test it guesses at 1% selectivity, so it
-- preferred sorting a whole audit chain over walking its index backwards, and an audit page became
-- a sequential scan of the table: appends and listings grew with the chain. Here organization work
-- and the service's cross-organization work run as two roles:
--   keyplane_app       sees rows whose organization_id equals keyplane.organization_id: a plain
--                      equality the planner estimates from column statistics and can use in indexes;
--   keyplane_platform  the '*' scope (authentication, platform listings, maintenance): every row.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'keyplane_platform') then
    create role keyplane_platform nologin;
  end if;
exception
  when duplicate_object then null;  -- created concurrently by another database of this cluster
  when insufficient_privilege then
    raise notice 'keyplane: cannot create role keyplane_platform; the service''s scope then relies on the login role';
end
$$;

do $$
declare
  r text;
begin
  foreach r in array array['keyplane_app', 'keyplane_platform'] loop
    if exists (select 1 from pg_roles where rolname = r) then
      execute format('grant usage on schema public to %I', r);
      execute format('grant select, insert, update, delete on all tables in schema public to %I', r);
      execute format('alter default privileges in schema public grant select, insert, update, delete on tables to %I', r);
      begin
        -- The service switches to these roles with SET ROLE, which needs membership.
        execute format('grant %I to current_user', r);
      exception
        when insufficient_privilege or invalid_grant_operation then null;
      end;
    end if;
  end loop;
end
$$;

do $$
declare
  t record;
  platform_role boolean := exists (select 1 from pg_roles where rolname = 'keyplane_platform');
begin
  for t in select * from (values
      ('organizations', 'id'), ('api_tokens', 'organization_id'), ('projects', 'organization_id'),
      ('credentials', 'organization_id'), ('credential_versions', 'organization_id'),
      ('audit_events', 'organization_id'), ('idempotency_keys', 'organization_id')) as v(tbl, col)
  loop
    execute format('drop policy organization_scope on %I', t.tbl);
    execute format(
      'create policy organization_scope on %I using (%I = current_setting(''keyplane.organization_id'', true)) '
      'with check (%I = current_setting(''keyplane.organization_id'', true))', t.tbl, t.col, t.col);
    if platform_role then
      execute format('create policy platform_scope on %I to keyplane_platform using (true) with check (true)', t.tbl);
    else
      -- Without the role the login role itself works in the '*' scope (estimates are then coarser).
      execute format(
        'create policy platform_scope on %I using (current_setting(''keyplane.organization_id'', true) = ''*'') '
        'with check (current_setting(''keyplane.organization_id'', true) = ''*'')', t.tbl);
    end if;
  end loop;
end
$$;

drop function keyplane_scope_allows(text);

-- An organization's chain is exactly its organization's events: tell the planner, so the chain key
-- and the policy's organization test are not estimated as independent filters.
create statistics audit_events_chain_organization (dependencies) on chain_key, organization_id from audit_events;

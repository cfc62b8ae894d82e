-- Row-level security as defence in depth: every organization-owned row is visible and writable
-- only when the session's scope (keyplane.organization_id) is its organization, or '*' for the
-- service's own cross-organization work (authentication, platform-admin listing, maintenance).
-- Without a scope nothing is visible, so a query that forgot its organization filter returns no
-- other organization's rows. The service runs its queries as the non-superuser role keyplane_app
-- (superusers bypass row-level security); FORCE applies the policies to the tables' owner too.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'keyplane_app') then
    create role keyplane_app nologin;
  end if;
exception
  when duplicate_object then null;  -- created concurrently by another database of this cluster
  when insufficient_privilege then
    raise notice 'keyplane: cannot create role keyplane_app; row-level security applies only if the service connects as a non-superuser';
end
$$;

do $$
begin
  if exists (select 1 from pg_roles where rolname = 'keyplane_app') then
    execute 'grant usage on schema public to keyplane_app';
    execute 'grant select, insert, update, delete on all tables in schema public to keyplane_app';
    execute 'alter default privileges in schema public grant select, insert, update, delete on tables to keyplane_app';
  end if;
end
$$;

create function keyplane_scope_allows(row_organization_id text) returns boolean
language sql stable as $$
  select coalesce(current_setting('keyplane.organization_id', true), '') in ('*', row_organization_id)
$$;

alter table organizations enable row level security;
alter table organizations force row level security;
create policy organization_scope on organizations
  using (keyplane_scope_allows(id)) with check (keyplane_scope_allows(id));

alter table api_tokens enable row level security;
alter table api_tokens force row level security;
create policy organization_scope on api_tokens
  using (keyplane_scope_allows(organization_id)) with check (keyplane_scope_allows(organization_id));

alter table projects enable row level security;
alter table projects force row level security;
create policy organization_scope on projects
  using (keyplane_scope_allows(organization_id)) with check (keyplane_scope_allows(organization_id));

alter table credentials enable row level security;
alter table credentials force row level security;
create policy organization_scope on credentials
  using (keyplane_scope_allows(organization_id)) with check (keyplane_scope_allows(organization_id));

alter table credential_versions enable row level security;
alter table credential_versions force row level security;
create policy organization_scope on credential_versions
  using (keyplane_scope_allows(organization_id)) with check (keyplane_scope_allows(organization_id));

alter table audit_events enable row level security;
alter table audit_events force row level security;
create policy organization_scope on audit_events
  using (keyplane_scope_allows(organization_id)) with check (keyplane_scope_allows(organization_id));

alter table idempotency_keys enable row level security;
alter table idempotency_keys force row level security;
create policy organization_scope on idempotency_keys
  using (keyplane_scope_allows(organization_id)) with check (keyplane_scope_allows(organization_id));

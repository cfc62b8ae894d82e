-- Model aliases: names AI features resolve instead of a bare provider (which model, with which
-- non-secret parameters, optionally pinned to one credential, with fallbacks by name).
create table model_aliases (
  id              text primary key,
  organization_id text not null references organizations (id) on delete cascade,
  -- null: organization-level (seen by projects that inherit the organization's credentials).
  project_id      text,
  name            text not null,
  provider        text not null,
  model           text not null,
  credential_id   text,
  environment     text,
  params          jsonb not null default '{}'::jsonb,
  fallbacks       text[] not null default '{}',
  active          boolean not null default true,
  description     text,
  owner           text,
  version         integer not null default 1 check (version >= 1),
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  created_by      text,
  updated_by      text,
  constraint model_aliases_params_check check (jsonb_typeof(params) = 'object'),
  constraint model_aliases_fallbacks_check check (cardinality(fallbacks) <= 5),
  -- A project's aliases go with the project: they name nothing outside it.
  constraint model_aliases_project_fk foreign key (organization_id, project_id)
    references projects (organization_id, id) on delete cascade,
  -- The pin stays inside the organization. Deleting a pinned credential (which the service
  -- refuses unless forced) unpins the alias rather than deleting it.
  constraint model_aliases_credential_fk foreign key (organization_id, credential_id)
    references credentials (organization_id, id) on delete set null (credential_id)
);
-- NULL project ids never collide in a plain unique constraint: coalesce makes the organization
-- level one scope.
create unique index model_aliases_name_key on model_aliases (organization_id, coalesce(project_id, ''), name);
create index model_aliases_organization_idx on model_aliases (organization_id, id);
create index model_aliases_credential_idx on model_aliases (credential_id) where credential_id is not null;

-- Row-level security as for every organization-owned table (0003, 0004).
alter table model_aliases enable row level security;
alter table model_aliases force row level security;
create policy organization_scope on model_aliases
  using (organization_id = current_setting('keyplane.organization_id', true))
  with check (organization_id = current_setting('keyplane.organization_id', true));

do $$
begin
  if exists (select 1 from pg_roles where rolname = 'keyplane_platform') then
    execute 'create policy platform_scope on model_aliases to keyplane_platform using (true) with check (true)';
  else
    execute 'create policy platform_scope on model_aliases '
      'using (current_setting(''keyplane.organization_id'', true) = ''*'') '
      'with check (current_setting(''keyplane.organization_id'', true) = ''*'')';
  end if;
  -- Default privileges cover tables made by the role that set them; say it for this one anyway.
  if exists (select 1 from pg_roles where rolname = 'keyplane_app') then
    execute 'grant select, insert, update, delete on model_aliases to keyplane_app';
  end if;
  if exists (select 1 from pg_roles where rolname = 'keyplane_platform') then
    execute 'grant select, insert, update, delete on model_aliases to keyplane_platform';
  end if;
end
$$;

-- Resolution caches aliases like credentials: a change must reach every instance (0006).
create trigger model_aliases_notify_change after insert or update or delete on model_aliases
  for each row execute function keyplane_notify_change('organization_id');

-- Workload identity: an organization admin names the external identities (an OIDC issuer, an
-- audience, a subject pattern and claim patterns) that may exchange their identity token for a
-- short-lived Keyplane token, and which role, project and lifetime that token gets.
create table identity_bindings (
  id              text primary key,
  organization_id text not null references organizations (id) on delete cascade,
  name            text not null,
  issuer          text not null,
  audience        text not null,
  -- null: the issuer's OpenID discovery document names the key set.
  jwks_uri        text,
  subject         text not null,
  claims          jsonb not null default '{}'::jsonb,
  role            text not null,
  project_id      text,
  ttl_seconds     integer not null default 900,
  active          boolean not null default true,
  version         integer not null default 1 check (version >= 1),
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  created_by      text,
  constraint identity_bindings_organization_name_key unique (organization_id, name),
  constraint identity_bindings_role_check check (role in ('resolver')),
  constraint identity_bindings_ttl_check check (ttl_seconds between 60 and 3600),
  constraint identity_bindings_claims_check check (jsonb_typeof(claims) = 'object'),
  -- a binding's project stays inside its organization; deleting the project deletes the binding.
  constraint identity_bindings_project_fkey foreign key (organization_id, project_id)
    references projects (organization_id, id) on delete cascade
);
-- The exchange looks up an organization's active bindings of one issuer, oldest first.
create index identity_bindings_issuer_idx on identity_bindings (organization_id, issuer, created_at, id);

-- The binding a token was issued through: revoking by binding finds them, and the audit trail can
-- say where a token came from. Deleting the binding keeps the (revoked) token rows for the record.
alter table api_tokens
  add column identity_binding_id text references identity_bindings (id) on delete set null;
create index api_tokens_identity_binding_idx on api_tokens (identity_binding_id) where identity_binding_id is not null;

alter table identity_bindings enable row level security;
alter table identity_bindings force row level security;
create policy organization_scope on identity_bindings
  using (organization_id = current_setting('keyplane.organization_id', true))
  with check (organization_id = current_setting('keyplane.organization_id', true));

do $$
begin
  if exists (select 1 from pg_roles where rolname = 'keyplane_platform') then
    execute 'create policy platform_scope on identity_bindings to keyplane_platform using (true) with check (true)';
  else
    execute 'create policy platform_scope on identity_bindings '
      'using (current_setting(''keyplane.organization_id'', true) = ''*'') '
      'with check (current_setting(''keyplane.organization_id'', true) = ''*'')';
  end if;
end
$$;

create trigger identity_bindings_notify_change after insert or update or delete on identity_bindings
  for each row execute function keyplane_notify_change('organization_id');

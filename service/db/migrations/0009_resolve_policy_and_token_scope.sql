-- An organization may require AI features to resolve through model aliases (resolve_policy
-- 'aliases_only'), so a workflow cannot quietly resolve a bare provider as its default path.
alter table organizations
  add column resolve_policy text not null default 'any',
  add constraint organizations_resolve_policy_check check (resolve_policy in ('any', 'aliases_only'));

-- A token may be confined to one project of its organization. The composite foreign key keeps
-- the project inside the token's organization; deleting the project revokes nothing by itself,
-- so the token is deleted with it (a confined token has nothing left to act for).
alter table api_tokens
  add column project_id text,
  add constraint api_tokens_project_fkey foreign key (organization_id, project_id)
    references projects (organization_id, id) on delete cascade,
  add constraint api_tokens_project_scope_check check (project_id is null or organization_id is not null);

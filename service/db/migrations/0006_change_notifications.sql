-- Every committed change to what resolution or authentication reads is announced on the channel
-- keyplane_changes with the row's organization id ('*' for platform tokens), so each instance of
-- the service can drop what it cached for that organization (service/db/change-feed.ts).
-- PostgreSQL delivers notifications only on commit and folds duplicates within a transaction.
create function keyplane_notify_change() returns trigger language plpgsql as $$
declare
  v_row jsonb := case tg_op when 'DELETE' then to_jsonb(old) else to_jsonb(new) end;
begin
  perform pg_notify('keyplane_changes', coalesce(v_row ->> tg_argv[0], '*'));
  return null;
end
$$;

create trigger organizations_notify_change after insert or update or delete on organizations
  for each row execute function keyplane_notify_change('id');
create trigger api_tokens_notify_change after update of revoked_at, expires_at, role or delete on api_tokens
  for each row execute function keyplane_notify_change('organization_id');
create trigger projects_notify_change after insert or update or delete on projects
  for each row execute function keyplane_notify_change('organization_id');
create trigger credentials_notify_change after insert or update or delete on credentials
  for each row execute function keyplane_notify_change('organization_id');
create trigger credential_versions_notify_change after insert or update or delete on credential_versions
  for each row execute function keyplane_notify_change('organization_id');

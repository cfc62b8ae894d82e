-- Key hints show only a prefix of the credential's own provider's key format (keyHint in
-- service/providers/catalog.ts). Hints stored before came from one list of every provider's
-- prefixes, so a `custom` secret starting `sk-ant-admin01-` showed 15 of its characters.
-- The corrected hint follows from the stored one, without the secret: the part from '…' on (the
-- last 4 characters, when shown) stays, and the prefix becomes the longest of the provider's own
-- prefixes that the stored prefix starts with — none for `custom` and for providers without a
-- published format. (Every own prefix was in the old list, so this is exactly the hint the
-- secret would get today.) The prefixes below are those of this release, as migrations are.
-- Audit events that recorded a hint are append-only and keep the hint of their time.

create function keyplane_hint_with_own_prefix(p_provider text, p_hint text) returns text
language sql immutable as $$
  select coalesce((
    select own.prefix
      from (values
        ('openai', 'sk-'), ('openai', 'sk-proj-'), ('openai', 'sk-svcacct-'), ('openai', 'sk-admin-'),
        ('anthropic', 'sk-ant-'), ('anthropic', 'sk-ant-api03-'), ('anthropic', 'sk-ant-admin01-'),
        ('gemini', 'AIza'), ('fireworks', 'fw_'), ('deepseek', 'sk-'),
        ('openrouter', 'sk-or-'), ('openrouter', 'sk-or-v1-'),
        ('xai', 'xai-'), ('perplexity', 'pplx-'), ('groq', 'gsk_'),
        ('bedrock', 'AKIA'), ('bedrock', 'ASIA')
      ) as own(provider, prefix)
     where own.provider = p_provider
       and left(substr(p_hint, 1, strpos(p_hint, '…') - 1), length(own.prefix)) = own.prefix
     order by length(own.prefix) desc
     limit 1), '') || substr(p_hint, strpos(p_hint, '…'))
$$;

-- Every organization's rows, in the '*' scope (as keyplane_platform where the login role may be it).
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'keyplane_platform')
     and pg_has_role(current_user, 'keyplane_platform', 'MEMBER') then
    set local role keyplane_platform;
  end if;
  perform set_config('keyplane.organization_id', '*', true);
  update credential_versions v
     set key_hint = keyplane_hint_with_own_prefix(c.provider, v.key_hint)
    from credentials c
   where c.organization_id = v.organization_id and c.id = v.credential_id
     and strpos(v.key_hint, '…') > 0
     and v.key_hint <> keyplane_hint_with_own_prefix(c.provider, v.key_hint);
  update credentials
     set key_hint = keyplane_hint_with_own_prefix(provider, key_hint)
   where strpos(key_hint, '…') > 0
     and key_hint <> keyplane_hint_with_own_prefix(provider, key_hint);
  reset role;
end
$$;

drop function keyplane_hint_with_own_prefix(text, text);

-- The token exchange tries an organization's active bindings of one issuer in the order the
-- bindings list shows them, by id (it used created_at before). Index that order, so the exchange
-- reads its first 100 candidates off the index instead of sorting every binding of the issuer.

drop index identity_bindings_issuer_idx;
create index identity_bindings_issuer_idx on identity_bindings (organization_id, issuer, id);

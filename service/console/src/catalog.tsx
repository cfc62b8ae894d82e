import { allPages, api, call, type Listed, type Project, type Provider } from "./api";
import { Field, useLoad } from "./ui";

/** The provider catalog, which every role may read. */
export function useProviders() {
  return useLoad(() => call(api.GET("/v1/providers")).then((list) => list.data), "providers");
}

/** The organization's projects, by name, every page up to LIST_CAP. */
export function useProjects(org: string) {
  return useLoad(() => allPages((query) => call(api.GET("/v1/organizations/{org}/projects", { params: { path: { org }, query } }))), `projects:${org}`);
}

export const providerName = (providers: Provider[] | undefined, id: string) => providers?.find((p) => p.id === id)?.display_name ?? id;

export const projectName = (projects: Listed<Project> | undefined, id: string | null) =>
  id === null ? "Organization" : (projects?.items.find((p) => p.id === id)?.name ?? id);

/** One <option> per provider, by display name. */
export function ProviderOptions({ providers }: { providers: Provider[] | undefined }) {
  return providers?.map((p) => (
    <option key={p.id} value={p.id}>
      {p.display_name}
    </option>
  ));
}

/** One <option> per project, by name. */
export function ProjectOptions({ projects }: { projects: Listed<Project> | undefined }) {
  return projects?.items.map((p) => (
    <option key={p.id} value={p.id}>
      {p.name}
    </option>
  ));
}

/** A filter form's choice of provider: any, or one of the catalog. */
export function ProviderFilter({ providers }: { providers: Provider[] | undefined }) {
  return (
    <Field label="Provider">
      {(input) => (
        <select {...input} name="provider" defaultValue="">
          <option value="">Any provider</option>
          <ProviderOptions providers={providers} />
        </select>
      )}
    </Field>
  );
}

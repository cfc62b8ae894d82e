import { api, call, type Project, type Provider } from "./api";
import { Field, useLoad } from "./ui";

/** The provider catalog, which every role may read. */
export function useProviders() {
  return useLoad(() => call(api.GET("/v1/providers")).then((list) => list.data), "providers");
}

/** The organization's projects (one page of 200: enough for a picker). */
export function useProjects(org: string) {
  return useLoad(
    () => call(api.GET("/v1/organizations/{org}/projects", { params: { path: { org }, query: { limit: 200 } } })).then((list) => list.data),
    `projects:${org}`,
  );
}

export const providerName = (providers: Provider[] | undefined, id: string) => providers?.find((p) => p.id === id)?.display_name ?? id;

export const projectName = (projects: Project[] | undefined, id: string | null) =>
  id === null ? "Organization" : (projects?.find((p) => p.id === id)?.name ?? id);

/** One <option> per provider, by display name. */
export function ProviderOptions({ providers }: { providers: Provider[] | undefined }) {
  return providers?.map((p) => (
    <option key={p.id} value={p.id}>
      {p.display_name}
    </option>
  ));
}

/** One <option> per project, by name. */
export function ProjectOptions({ projects }: { projects: Project[] | undefined }) {
  return projects?.map((p) => (
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

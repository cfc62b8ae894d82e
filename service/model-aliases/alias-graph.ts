// How alias names are found, shared by the write rules and resolution so both walk the same graph.
// A name is looked up from a scope: the project's own aliases first, then the organization's when
// the scope is the organization itself or a project that inherits. A fallback name is looked up
// from the scope of the alias that names it, so an organization-level alias only ever falls back
// to organization-level aliases, whichever project resolves it.

export interface AliasNode {
  id: string;
  project_id: string | null;
  name: string;
  fallbacks: string[];
}

/** A resolution may try at most this many aliases, however the graph changed since it was checked. */
export const MAX_ALIAS_ATTEMPTS = 16;

export class AliasGraph<A extends AliasNode> {
  readonly #byScope = new Map<string, A>();

  constructor(
    aliases: Iterable<A>,
    /** Whether a project sees the organization's aliases (it inherits the organization's credentials). */
    private readonly inherits: (projectId: string) => boolean,
  ) {
    for (const alias of aliases) this.#byScope.set(scopeKey(alias.project_id, alias.name), alias);
  }

  /** The alias `name` means in a scope (null: the organization), if any. */
  lookup(projectId: string | null, name: string): A | undefined {
    if (projectId === null) return this.#byScope.get(scopeKey(null, name));
    return this.#byScope.get(scopeKey(projectId, name)) ?? (this.inherits(projectId) ? this.#byScope.get(scopeKey(null, name)) : undefined);
  }

  /** The aliases `alias` falls back to, in order; names that find nothing are skipped. */
  fallbacksOf(alias: A): A[] {
    return alias.fallbacks.map((name) => this.lookup(alias.project_id, name)).filter((found): found is A => found !== undefined);
  }

  /** Depth-first, each alias at most once: the order resolution tries them in. */
  *walk(start: A): Generator<A> {
    const visited = new Set<string>();
    const stack = [start];
    while (stack.length > 0 && visited.size < MAX_ALIAS_ATTEMPTS) {
      const alias = stack.pop()!;
      if (visited.has(alias.id)) continue;
      visited.add(alias.id);
      yield alias;
      stack.push(...this.fallbacksOf(alias).reverse());
    }
  }

  /** Whether following fallbacks from `start` leads back to it. */
  leadsBackTo(start: A): boolean {
    const seen = new Set<string>();
    const stack = this.fallbacksOf(start);
    while (stack.length > 0) {
      const alias = stack.pop()!;
      if (alias.id === start.id) return true;
      if (seen.has(alias.id)) continue;
      seen.add(alias.id);
      stack.push(...this.fallbacksOf(alias));
    }
    return false;
  }

  /** The aliases whose fallbacks lead to `target` in one step. */
  referrersOf(target: A): A[] {
    return [...this.#byScope.values()].filter((alias) => alias.id !== target.id && this.fallbacksOf(alias).some((f) => f.id === target.id));
  }
}

// Project ids and alias names cannot hold a NUL.
const scopeKey = (projectId: string | null, name: string) => `${projectId ?? ""}\u0000${name}`;

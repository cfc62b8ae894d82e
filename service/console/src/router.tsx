// A few paths under /console/ need no routing library: the path is the state, history the store.
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

export const BASE = "/console";
const NAVIGATED = "keyplane:navigated";

function subscribe(onChange: () => void) {
  window.addEventListener("popstate", onChange);
  window.addEventListener(NAVIGATED, onChange);
  return () => {
    window.removeEventListener("popstate", onChange);
    window.removeEventListener(NAVIGATED, onChange);
  };
}

/** The path below /console, e.g. "/orgs/org_…/credentials" ("/" for the console's root). */
export function usePath(): string {
  const pathname = useSyncExternalStore(subscribe, () => window.location.pathname);
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  return path === "" ? "/" : path;
}

export function navigate(to: string, { replace = false } = {}) {
  if (replace) window.history.replaceState(null, "", BASE + to);
  else window.history.pushState(null, "", BASE + to);
  window.dispatchEvent(new Event(NAVIGATED));
}

export function Link({ to, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return <a href={BASE + to} onClick={onClick} {...rest} />;
}

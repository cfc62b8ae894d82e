import { createContext, useContext } from "react";
import type { Whoami } from "./api";

export interface Session {
  me: Whoami;
  /** Admins and platform admins manage; members only read. */
  canManage: boolean;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in page");
  return session;
}

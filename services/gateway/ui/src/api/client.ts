// The typed API client. Its types come from `schema.d.ts`, generated from the gateway's OpenAPI
// document at build time, so a change in the API that breaks a page fails `tsc`.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

/**
 * A failed API call: the server's `{code, message}`, the HTTP status, and the request field
 * the error is about when the server names one (forms show the message next to that field).
 */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The value of a cookie page scripts may read (the session's JWT cookie is HttpOnly). */
function readCookie(name: string): string {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** Listeners told when an API call answers 401: the session ended or never began. */
const signedOut = new Set<() => void>();
export function onSignedOut(listener: () => void): () => void {
  signedOut.add(listener);
  return () => signedOut.delete(listener);
}

const session: Middleware = {
  onRequest({ request }) {
    if (!["GET", "HEAD", "OPTIONS"].includes(request.method)) {
      request.headers.set("X-CSRF-Token", readCookie("lathe_csrf"));
    }
    return request;
  },
  onResponse({ response, request }) {
    if (response.status === 401 && !request.url.endsWith("/api/v1/session")) {
      for (const listener of signedOut) listener();
    }
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(session);

/** The answer's body, or an [`ApiError`] carrying the server's message. */
export async function must<D>(
  call: Promise<{ data?: D; error?: unknown; response: Response }>,
): Promise<D> {
  let result;
  try {
    result = await call;
  } catch (e) {
    throw new ApiError(`the server did not answer: ${String(e)}`, 0, "unavailable");
  }
  const { data, error, response } = result;
  if (response.ok) return data as D;
  const body = (error ?? {}) as Partial<Schemas["ErrorBody"]>;
  throw new ApiError(
    body.message ?? `${response.status} ${response.statusText}`,
    response.status,
    body.code ?? "unknown",
    body.field ?? undefined,
  );
}

/** An artifact path or name made safe for one URL path segment each part. */
export function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

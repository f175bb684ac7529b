import type { ComponentChildren } from "preact";
import { ApiError } from "../api/client";
import type { Loaded } from "../hooks";
import { useLocation, withQuery } from "../router";

/** The server's message for a failed call, shown where the call was made. */
export function ErrorText({ error }: { error: ApiError | string | undefined | null }) {
  if (!error) return null;
  const message = typeof error === "string" ? error : error.message;
  return (
    <span class="error" role="alert">
      {message}
    </span>
  );
}

/** Shows `children(data)` once loaded, the error otherwise. */
export function Await<T>({
  state,
  children,
}: {
  state: Loaded<T>;
  children: (data: T) => ComponentChildren;
}) {
  if (state.error) return <p class="error-block" role="alert">{state.error.message}</p>;
  if (state.data === undefined) return <p class="muted">Loading…</p>;
  return <>{children(state.data)}</>;
}

/**
 * Server-side paging: the page token is part of the URL (`param`, `page_token` by default), so
 * each page can be shared; "Previous" goes back through the tokens this tab has followed.
 */
export function Pager({ next, param = "page_token" }: { next: string | undefined; param?: string }) {
  const loc = useLocation();
  const currentToken = loc.query.get(param);
  if (!next && !currentToken) return null;
  return (
    <nav class="pager">
      {currentToken ? (
        <>
          <a href={withQuery(loc.path, loc.query, { [param]: null })}>« First</a>
          <button type="button" class="link" onClick={() => history.back()}>
            ‹ Previous
          </button>
        </>
      ) : null}
      {next ? <a href={withQuery(loc.path, loc.query, { [param]: next })}>Next ›</a> : null}
    </nav>
  );
}

/** A two-column table of names and values, sorted by name. */
export function KeyValues({ values, empty = "none" }: { values: Record<string, ComponentChildren>; empty?: string }) {
  const keys = Object.keys(values).sort();
  if (keys.length === 0) return <p class="muted">{empty}</p>;
  return (
    <table class="kv">
      <tbody>
        {keys.map((k) => (
          <tr key={k}>
            <th>{k}</th>
            <td>{values[k]}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Badge({ value }: { value: string }) {
  return <span class={`badge badge-${value.toLowerCase()}`}>{value}</span>;
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section>
      <header class="section-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

/**
 * A list page's table: a header row, one row per item (`row` returns the `<tr>`), what to say
 * when there is none, and the server's next page when `next` is given.
 */
export function Listing<T>({
  items,
  head,
  row,
  empty,
  next,
  pageParam,
  class: className = "grid",
}: {
  items: T[];
  head: ComponentChildren[];
  row: (item: T) => ComponentChildren;
  empty: string;
  next?: string;
  pageParam?: string;
  class?: string;
}) {
  return (
    <>
      <table class={className}>
        <thead>
          <tr>
            {head.map((h, i) => (
              <th key={i}>{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>{items.map(row)}</tbody>
      </table>
      {items.length === 0 ? <p class="muted">{empty}</p> : null}
      {next !== undefined ? <Pager next={next} param={pageParam} /> : null}
    </>
  );
}

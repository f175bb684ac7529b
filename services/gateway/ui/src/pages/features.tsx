import { api, must } from "../api/client";
import { Await } from "../components/common";
import { when } from "../format";
import { useLoad } from "../hooks";
import { navigate, useLocation, withQuery } from "../router";

const KINDS: [string, string][] = [
  ["", "all"],
  ["entity", "entities"],
  ["data_source", "sources"],
  ["feature_view", "views"],
  ["feature_service", "services"],
];

/** The feature repository's definitions: entities, sources, views and services. */
export function FeaturesPage({ project }: { project: string }) {
  const loc = useLocation();
  const kind = loc.query.get("kind") ?? "";
  const open = loc.query.get("name");
  const state = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/features/definitions", {
          params: { path: { project }, query: { kind: kind || undefined } },
        }),
      ),
    [project, kind],
  );
  return (
    <main>
      <header class="page-head">
        <h1>Features</h1>
        <nav class="tabs">
          {KINDS.map(([k, label]) => (
            <a key={k} class={k === kind ? "active" : ""} href={withQuery(loc.path, loc.query, { kind: k, name: null })}>
              {label}
            </a>
          ))}
        </nav>
      </header>
      <Await state={state}>
        {(list) => (
          <>
            <table class="grid">
              <thead>
                <tr>
                  <th>Kind</th>
                  <th>Name</th>
                  <th>Version</th>
                  <th>Declared in</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {list.definitions.map((d) => {
                  const id = `${d.kind}/${d.name}`;
                  return [
                    <tr key={id}>
                      <td>{d.kind}</td>
                      <td>
                        <a
                          href={withQuery(loc.path, loc.query, { name: open === id ? null : id })}
                          onClick={(e) => {
                            e.preventDefault();
                            navigate(withQuery(loc.path, loc.query, { name: open === id ? null : id }), true);
                          }}
                        >
                          {d.name}
                        </a>
                      </td>
                      <td class="num">{d.version}</td>
                      <td class="mono small">{d.origin}</td>
                      <td>{when(d.update_time ?? d.create_time)}</td>
                    </tr>,
                    open === id ? (
                      <tr key={`${id}-spec`} class="detail">
                        <td colSpan={5}>
                          <pre>{JSON.stringify(d.spec, null, 2)}</pre>
                        </td>
                      </tr>
                    ) : null,
                  ];
                })}
              </tbody>
            </table>
            {list.definitions.length === 0 ? <p class="muted">No definitions.</p> : null}
          </>
        )}
      </Await>
    </main>
  );
}

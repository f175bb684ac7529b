import { api, must, type Schemas } from "../api/client";
import { Await, Badge, KeyValues, Pager, Section } from "../components/common";
import { ago, num, when } from "../format";
import { useLoad } from "../hooks";
import { navigate, useLocation, withQuery } from "../router";

const p = encodeURIComponent;

const KINDS: [string, string][] = [
  ["", "all"],
  ["entity", "entities"],
  ["data_source", "sources"],
  ["feature_view", "views"],
  ["feature_service", "services"],
];

type Materialization = Schemas["MaterializationState"];

/** The top-level keys whose values differ between two versions of a definition. */
function changedKeys(before: Record<string, unknown> | null | undefined, after: Record<string, unknown> | null | undefined): string[] {
  if (!before || !after) return [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).sort();
}

/** Every applied version of one definition (a page of them), newest first, each with what it changed. */
function History({ project, kind, name }: { project: string; kind: string; name: string }) {
  const token = useLocation().query.get("history_page");
  const state = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/features/definitions/{kind}/{name}/history", {
          params: { path: { project, kind, name }, query: { page_size: 20, page_token: token ?? undefined } },
        }),
      ),
    [project, kind, name, token],
  );
  return (
    <Await state={state}>
      {(h) => {
        const versions = [...h.versions].sort((a, b) => b.version - a.version);
        return (
          <>
            <table class="grid history">
              <thead>
                <tr>
                  <th>Version</th>
                  <th>Applied</th>
                  <th>By</th>
                  <th>Change</th>
                </tr>
              </thead>
              <tbody>
                {versions.map((v) => {
                  const previous = h.versions.find((x) => x.version === v.version - 1);
                  const spec = v.spec as Record<string, unknown> | null | undefined;
                  // The history pages oldest first: a page's first version may have its predecessor on the
                // page before; then only its spec is shown.
                  const change = !spec
                    ? "deleted"
                    : !previous
                      ? v.version === 1
                        ? "declared"
                        : "changed (the version before is on the page before)"
                      : !previous.spec
                        ? "declared again"
                        : changedKeys(previous.spec as Record<string, unknown>, spec).join(", ") || "no change";
                  return (
                    <tr key={v.version}>
                      <td class="num">{v.version}</td>
                      <td>{when(v.applied_time)}</td>
                      <td>{v.actor}</td>
                      <td>
                        <details>
                          <summary>{change}</summary>
                          <pre>{spec ? JSON.stringify(spec, null, 2) : "(deleted)"}</pre>
                        </details>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            <Pager next={h.next_page_token} param="history_page" />
          </>
        );
      }}
    </Await>
  );
}

/** The model versions whose lineage names this feature view, by model. */
function UsedBy({ project, view }: { project: string; view: string }) {
  const state = useLoad(
    () => must(api.GET("/api/v1/projects/{project}/lineage", { params: { path: { project }, query: { feature_view: view } } })),
    [project, view],
  );
  return (
    <Await state={state}>
      {(found) => {
        const byModel = new Map<string, Schemas["ModelVersion"][]>();
        for (const v of found.versions) byModel.set(v.model, [...(byModel.get(v.model) ?? []), v]);
        if (byModel.size === 0) return <p class="muted">no registered model version was trained on this view</p>;
        return (
          <ul class="used-by">
            {[...byModel].map(([model, versions]) => (
              <li key={model}>
                <a href={`/ui/projects/${p(project)}/models/${p(model)}`}>{model}</a>:{" "}
                {versions
                  .sort((a, b) => a.version - b.version)
                  .map((v) => (
                    <a key={v.version} class="tag" href={`/ui/projects/${p(project)}/models/${p(model)}?version=${v.version}`}>
                      v{v.version} <Badge value={v.stage} />
                    </a>
                  ))}
              </li>
            ))}
          </ul>
        );
      }}
    </Await>
  );
}

/** How far the online store is behind now, and whether that is beyond the view's ttl. */
function Freshness({ state }: { state: Materialization | undefined }) {
  if (!state) return <span class="muted">—</span>;
  if (!state.online) return <span class="muted">offline only</span>;
  if (state.freshness_seconds === null || state.freshness_seconds === undefined) return <span class="badge badge-failed">never materialized</span>;
  return (
    <span class={state.stale ? "badge badge-failed" : "badge badge-ok"} title={`online values up to ${when(state.materialized_until)}`}>
      {ago(state.freshness_seconds)} behind{state.stale ? ", beyond ttl" : ""}
    </span>
  );
}

function MaterializationState({ state }: { state: Materialization | undefined }) {
  if (!state) return <p class="muted">unknown</p>;
  return (
    <KeyValues
      values={{
        online: state.online ? "yes" : "no",
        ttl: state.ttl_seconds ? ago(state.ttl_seconds) : "none",
        "last interval": state.last_end ? `${when(state.last_start)} → ${when(state.last_end)}` : "never materialized",
        "online up to": when(state.materialized_until),
        "last run": when(state.last_run_time),
        "rows scanned": state.rows_scanned === null || state.rows_scanned === undefined ? "—" : num(state.rows_scanned),
        "entities written": state.entities_written === null || state.entities_written === undefined ? "—" : num(state.entities_written),
        freshness: <Freshness state={state} />,
      }}
    />
  );
}

/** The feature repository's definitions: entities, sources, views and services. */
export function FeaturesPage({ project }: { project: string }) {
  const loc = useLocation();
  const kind = loc.query.get("kind") ?? "";
  const open = loc.query.get("name");
  const token = loc.query.get("page_token");
  const state = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/features/definitions", {
          params: { path: { project }, query: { kind: kind || undefined, page_size: 100, page_token: token ?? undefined } },
        }),
      ),
    [project, kind, token],
  );
  const materializations = useLoad(
    () => must(api.GET("/api/v1/projects/{project}/features/materializations", { params: { path: { project } } })),
    [project],
  );
  const stateOf = (view: string) => materializations.data?.views.find((m) => m.feature_view === view);
  const toggle = (id: string) => withQuery(loc.path, loc.query, { name: open === id ? null : id, history_page: null });
  return (
    <main>
      <header class="page-head">
        <h1>Features</h1>
        <nav class="tabs">
          {KINDS.map(([k, label]) => (
            <a key={k} class={k === kind ? "active" : ""} href={withQuery(loc.path, loc.query, { kind: k, name: null, page_token: null })}>
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
                  <th>Online store</th>
                </tr>
              </thead>
              <tbody>
                {list.definitions.map((d) => {
                  const id = `${d.kind}/${d.name}`;
                  const isView = d.kind === "feature_view";
                  return [
                    <tr key={id} class={open === id ? "selected" : ""}>
                      <td>{d.kind}</td>
                      <td>
                        <a
                          href={toggle(id)}
                          onClick={(e) => {
                            e.preventDefault();
                            navigate(toggle(id), true);
                          }}
                        >
                          {d.name}
                        </a>
                      </td>
                      <td class="num">{d.version}</td>
                      <td class="mono small">{d.origin}</td>
                      <td>{when(d.update_time ?? d.create_time)}</td>
                      <td>{isView ? <Freshness state={stateOf(d.name)} /> : null}</td>
                    </tr>,
                    open === id ? (
                      <tr key={`${id}-detail`} class="detail">
                        <td colSpan={6}>
                          <div class="columns-2">
                            <Section title={`Definition, version ${d.version}`}>
                              <pre>{JSON.stringify(d.spec, null, 2)}</pre>
                            </Section>
                            <div>
                              {isView ? (
                                <>
                                  <Section title="Materialization">
                                    <MaterializationState state={stateOf(d.name)} />
                                  </Section>
                                  <Section title="Used by models">
                                    <UsedBy project={project} view={d.name} />
                                  </Section>
                                </>
                              ) : null}
                              <Section title="History">
                                <History project={project} kind={d.kind} name={d.name} />
                              </Section>
                            </div>
                          </div>
                        </td>
                      </tr>
                    ) : null,
                  ];
                })}
              </tbody>
            </table>
            {list.definitions.length === 0 ? <p class="muted">No definitions.</p> : null}
            <Pager next={list.next_page_token} />
          </>
        )}
      </Await>
    </main>
  );
}

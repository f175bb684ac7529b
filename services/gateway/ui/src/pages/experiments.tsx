import { useEffect, useState } from "preact/hooks";
import { api, must, type Schemas } from "../api/client";
import { Await, Badge, ErrorText, Listing, Pager } from "../components/common";
import { Field, FormError, Opener, useSubmission } from "../components/forms";
import { duration, num, when } from "../format";
import { useLoad } from "../hooks";
import { navigate, useLocation, withQuery } from "../router";

const p = encodeURIComponent;

/** Creates an experiment and opens its runs; the server's refusal shows beside its field. */
function NewExperiment({ project, close }: { project: string; close: () => void }) {
  const [name, setName] = useState("");
  const submission = useSubmission();
  const submit = async (e: Event) => {
    e.preventDefault();
    let id = "";
    const created = await submission.run(async () => {
      id = (await must(api.POST("/api/v1/projects/{project}/experiments", { params: { path: { project } }, body: { name } })))
        .experiment_id;
    });
    if (created) {
      close();
      navigate(`/ui/projects/${p(project)}/experiments/${p(id)}`);
    }
  };
  return (
    <form class="stacked" onSubmit={submit} aria-label="new experiment">
      <Field label="Name" name="name" error={submission.error}>
        <input name="name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <button type="submit" disabled={submission.busy}>
        Create experiment
      </button>
      <FormError error={submission.error} fields={["name"]} />
    </form>
  );
}

export function ExperimentsPage({ project }: { project: string }) {
  const { query } = useLocation();
  const token = query.get("page_token");
  const view = (query.get("view") ?? "active") as Schemas["View"];
  const state = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/experiments", {
          params: { path: { project }, query: { page_size: 50, page_token: token, view } },
        }),
      ),
    [project, token, view],
  );
  const loc = useLocation();
  return (
    <main>
      <header class="page-head">
        <h1>Experiments</h1>
        <label>
          Show{" "}
          <select
            value={view}
            onChange={(e) => navigate(withQuery(loc.path, loc.query, { view: e.currentTarget.value, page_token: null }), true)}
          >
            <option value="active">active</option>
            <option value="deleted">deleted</option>
            <option value="all">all</option>
          </select>
        </label>
        <a href={`/ui/projects/${p(project)}/experiments/all`}>Search all runs of the project</a>
        <Opener label="New experiment">{(close) => <NewExperiment project={project} close={close} />}</Opener>
      </header>
      <Await state={state}>
        {(list) => (
          <Listing
            items={list.experiments}
            head={["Name", "ID", "Stage", "Tags", "Created", "Updated"]}
            empty="No experiments." next={list.next_page_token}
            row={(e) => (
              <tr key={e.experiment_id}>
                <td>
                  <a href={`/ui/projects/${p(project)}/experiments/${p(e.experiment_id)}`}>{e.name}</a>
                </td>
                <td class="mono">{e.experiment_id}</td>
                <td>{e.lifecycle_stage}</td>
                <td>
                  {Object.entries(e.tags).map(([k, v]) => (
                    <span class="tag" key={k}>
                      {k}={v}
                    </span>
                  ))}
                </td>
                <td>{when(e.create_time)}</td>
                <td>{when(e.update_time)}</td>
              </tr>
            )}
          />
        )}
      </Await>
    </main>
  );
}

/** A key of the filter language, back-quoted when it is not a plain identifier. */
export function filterKey(kind: "metrics" | "params" | "tags" | "attributes", key: string): string {
  return /^[A-Za-z0-9_]+$/.test(key) ? `${kind}.${key}` : `${kind}.\`${key.replace(/`/g, "\\`")}\``;
}

function list(value: string | null): string[] | null {
  return value === null ? null : value.split(",").filter((s) => s !== "");
}

/**
 * The runs of an experiment (or of the whole project when the id is `all`): chosen params and
 * latest metrics as columns, sorted and filtered by the server, one page at a time.
 */
export function RunsPage({ project, experiment }: { project: string; experiment: string }) {
  const loc = useLocation();
  const { query } = loc;
  const filter = query.get("filter") ?? "";
  const order = query.get("order_by") ?? "";
  const token = query.get("page_token");
  const view = (query.get("view") ?? "active") as Schemas["View"];
  const pageSize = Math.min(Math.max(Number(query.get("page_size")) || 50, 1), 1000);
  const all = experiment === "all";
  const [draft, setDraft] = useState(filter);
  const [selected, setSelected] = useState<string[]>([]);
  useEffect(() => setDraft(filter), [filter]);

  const exp = useLoad(
    () =>
      all
        ? Promise.resolve(null)
        : must(
            api.GET("/api/v1/projects/{project}/experiments/{experiment_id}", {
              params: { path: { project, experiment_id: experiment } },
            }),
          ),
    [project, experiment],
  );
  const runs = useLoad(
    () =>
      must(
        api.POST("/api/v1/projects/{project}/runs/search", {
          params: { path: { project } },
          body: {
            experiment_ids: all ? [] : [experiment],
            filter,
            order_by: order ? [order] : [],
            page_size: pageSize,
            page_token: token ?? undefined,
            view,
          },
        }),
      ),
    [project, experiment, filter, order, token, view, pageSize],
  );

  const data = runs.data;
  const seenParams = [...new Set((data?.runs ?? []).flatMap((r) => Object.keys(r.params)))].sort();
  const seenMetrics = [...new Set((data?.runs ?? []).flatMap((r) => r.latest_metrics.map((m) => m.key)))].sort();
  const params = list(query.get("params")) ?? seenParams.slice(0, 6);
  const metrics = list(query.get("metrics")) ?? seenMetrics.slice(0, 8);

  const go = (changes: Record<string, string | null>, replace = true) =>
    navigate(withQuery(loc.path, query, changes), replace);
  const sortBy = (key: string) => {
    const next = order === `${key} DESC` ? `${key} ASC` : `${key} DESC`;
    go({ order_by: next, page_token: null });
  };
  const arrow = (key: string) => (order === `${key} DESC` ? " ▼" : order === `${key} ASC` ? " ▲" : "");
  const toggle = (kind: "params" | "metrics", key: string, current: string[]) => {
    const next = current.includes(key) ? current.filter((k) => k !== key) : [...current, key];
    go({ [kind]: next.join(",") || "," });
  };
  const SortHead = ({ k, label }: { k: string; label: string }) => (
    <th class="sortable" onClick={() => sortBy(k)} title={`sort by ${k}`}>
      {label}
      {arrow(k)}
    </th>
  );

  return (
    <main>
      <header class="page-head">
        <h1>
          {all ? "All runs" : (exp.data?.name ?? experiment)}
          {exp.data ? <span class="muted small"> experiment {exp.data.experiment_id}</span> : null}
        </h1>
        <ErrorText error={exp.error} />
      </header>
      <form
        class="filter"
        onSubmit={(e) => {
          e.preventDefault();
          go({ filter: draft.trim() || null, page_token: null }, false);
        }}
      >
        <input
          type="search"
          aria-label="Filter runs"
          placeholder="metrics.accuracy > 0.9 and params.solver = 'lbfgs'"
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
        />
        <button type="submit">Search</button>
        <select
          aria-label="Which runs"
          value={view}
          onChange={(e) => go({ view: e.currentTarget.value, page_token: null })}
        >
          <option value="active">active</option>
          <option value="deleted">deleted</option>
          <option value="all">all</option>
        </select>
        {runs.error ? <ErrorText error={runs.error} /> : null}
      </form>
      <div class="toolbar">
        <details class="columns">
          <summary>Columns</summary>
          <div class="column-lists">
            <fieldset>
              <legend>Params</legend>
              {[...new Set([...seenParams, ...params])].map((k) => (
                <label key={k}>
                  <input type="checkbox" checked={params.includes(k)} onChange={() => toggle("params", k, params)} /> {k}
                </label>
              ))}
            </fieldset>
            <fieldset>
              <legend>Metrics</legend>
              {[...new Set([...seenMetrics, ...metrics])].map((k) => (
                <label key={k}>
                  <input type="checkbox" checked={metrics.includes(k)} onChange={() => toggle("metrics", k, metrics)} /> {k}
                </label>
              ))}
            </fieldset>
          </div>
        </details>
        <a
          class={`button${selected.length >= 2 && selected.length <= 10 ? "" : " disabled"}`}
          aria-disabled={!(selected.length >= 2 && selected.length <= 10)}
          href={
            selected.length >= 2 && selected.length <= 10
              ? `/ui/projects/${p(project)}/compare?runs=${selected.map(p).join(",")}`
              : undefined
          }
        >
          Compare {selected.length} runs
        </a>
        <span class="muted small">select 2 to 10</span>
      </div>
      {data ? (
        <>
          <div class="scroll">
            <table class="grid runs">
              <thead>
                <tr>
                  <th />
                  <SortHead k="attributes.run_name" label="Run" />
                  <SortHead k="attributes.status" label="Status" />
                  <SortHead k="attributes.start_time" label="Started" />
                  <th>Duration</th>
                  <th>User</th>
                  {params.map((k) => (
                    <SortHead key={`p${k}`} k={filterKey("params", k)} label={k} />
                  ))}
                  {metrics.map((k) => (
                    <SortHead key={`m${k}`} k={filterKey("metrics", k)} label={k} />
                  ))}
                </tr>
                {params.length + metrics.length > 0 ? (
                  <tr class="group">
                    <th colSpan={6} />
                    {params.length ? <th colSpan={params.length}>params</th> : null}
                    {metrics.length ? <th colSpan={metrics.length}>metrics</th> : null}
                  </tr>
                ) : null}
              </thead>
              <tbody>
                {data.runs.map((r) => {
                  const latest = Object.fromEntries(r.latest_metrics.map((m) => [m.key, m.value]));
                  return (
                    <tr key={r.run_id}>
                      <td>
                        <input
                          type="checkbox"
                          aria-label={`select ${r.name ? `${r.name} (${r.run_id.slice(0, 8)})` : r.run_id}`}
                          checked={selected.includes(r.run_id)}
                          onChange={() =>
                            setSelected((s) => (s.includes(r.run_id) ? s.filter((x) => x !== r.run_id) : [...s, r.run_id]))
                          }
                        />
                      </td>
                      <td>
                        <a href={`/ui/projects/${p(project)}/runs/${p(r.run_id)}`}>{r.name || r.run_id}</a>
                      </td>
                      <td>
                        <Badge value={r.status} />
                      </td>
                      <td>{when(r.start_time_ms)}</td>
                      <td>{duration(r.start_time_ms, r.end_time_ms)}</td>
                      <td>{r.user_id}</td>
                      {params.map((k) => (
                        <td key={`p${k}`}>{r.params[k] ?? ""}</td>
                      ))}
                      {metrics.map((k) => (
                        <td key={`m${k}`} class="num">
                          {k in latest ? num(latest[k]) : ""}
                        </td>
                      ))}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          {data.runs.length === 0 ? <p class="muted">No runs match.</p> : null}
          <Pager next={data.next_page_token} />
        </>
      ) : runs.loading ? (
        <p class="muted">Loading…</p>
      ) : null}
    </main>
  );
}

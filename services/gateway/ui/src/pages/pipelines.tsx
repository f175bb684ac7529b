import { useEffect, useState } from "preact/hooks";
import { api, ApiError, must, type Schemas } from "../api/client";
import { Await, Badge, ErrorText, KeyValues, Listing, Pager, Section } from "../components/common";
import { Dag, type DagTask } from "../components/dag";
import { duration, when } from "../format";
import { useEvery, useLoad } from "../hooks";
import { declaredParams, type DeclaredParam } from "../pipeline-params";
import { navigate, useLocation, withQuery } from "../router";

const p = encodeURIComponent;
const STATES: Schemas["PipelineRunState"][] = ["queued", "running", "success", "failed", "cancelled"];

function TaskDots({ tasks }: { tasks: Schemas["TaskInstance"][] }) {
  return (
    <span class="dots">
      {tasks.map((t) => (
        <span key={t.task_id} class={`dot state-${t.state}`} title={`${t.task_id}: ${t.state}`} />
      ))}
    </span>
  );
}

export function PipelinesPage({ project }: { project: string }) {
  const loc = useLocation();
  const { query } = loc;
  const pipeline = query.get("pipeline") ?? "";
  const state = (query.get("state") ?? "") as Schemas["PipelineRunState"] | "";
  const token = query.get("page_token");
  const pipelinesToken = query.get("pipelines_page");
  const pipelines = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/pipelines", {
          params: { path: { project }, query: { page_size: 50, page_token: pipelinesToken ?? undefined } },
        }),
      ),
    [project, pipelinesToken],
  );
  const runs = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/pipeline-runs", {
          params: {
            path: { project },
            query: { pipeline: pipeline || undefined, state: state || undefined, page_size: 50, page_token: token ?? undefined },
          },
        }),
      ),
    [project, pipeline, state, token],
  );
  const go = (changes: Record<string, string | null>) => navigate(withQuery(loc.path, query, { ...changes, page_token: null }), true);
  return (
    <main>
      <h1>Pipelines</h1>
      <Await state={pipelines}>
        {(list) => (
          <Listing
            items={list.pipelines}
            head={["Name", "Version", "Schedule", "Tasks", "Description", "Updated"]}
            empty="No pipelines."
            next={list.next_page_token}
            pageParam="pipelines_page"
            row={(pl) => (
              <tr key={pl.name}>
                <td>
                  <a href={`/ui/projects/${p(project)}/pipelines/${p(pl.name)}`}>{pl.name}</a>
                </td>
                <td class="num">{pl.version}</td>
                <td class="mono">{pl.schedule || "—"} {pl.timezone}</td>
                <td class="small">{pl.tasks.map((t) => t.id).join(" → ")}</td>
                <td>{pl.description}</td>
                <td>{when(pl.update_time)}</td>
              </tr>
            )}
          />
        )}
      </Await>
      <Section
        title="Runs"
        actions={
          <span class="filters">
            <select aria-label="pipeline" value={pipeline} onChange={(e) => go({ pipeline: e.currentTarget.value })}>
              <option value="">all pipelines</option>
              {/* The pipelines of the page shown above, and the one filtered on if it is elsewhere. */}
              {[...new Set([...(pipelines.data?.pipelines ?? []).map((pl) => pl.name), ...(pipeline ? [pipeline] : [])])].map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
            <select aria-label="state" value={state} onChange={(e) => go({ state: e.currentTarget.value })}>
              <option value="">any state</option>
              {STATES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </span>
        }
      >
        <Await state={runs}>
          {(list) => {
            // The listing may leave the task instances out; the run's page always has them.
            const withTasks = list.runs.some((r) => r.tasks.length > 0);
            return (
              <>
                <table class="grid">
                  <thead>
                    <tr>
                      <th>Run</th>
                      <th>Pipeline</th>
                      <th>State</th>
                      {withTasks ? <th>Tasks</th> : null}
                      <th>Trigger</th>
                      <th>Logical date</th>
                      <th>Started</th>
                      <th>Duration</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.runs.map((r) => (
                      <tr key={r.run_id}>
                        <td>
                          <a class="mono" href={`/ui/projects/${p(project)}/pipeline-runs/${p(r.run_id)}`}>
                            {r.run_id.slice(0, 12)}
                          </a>
                        </td>
                        <td>
                          {r.pipeline} <span class="muted">v{r.pipeline_version}</span>
                        </td>
                        <td>
                          <Badge value={r.state} />
                        </td>
                        {withTasks ? (
                          <td>
                            <TaskDots tasks={r.tasks} />
                          </td>
                        ) : null}
                        <td>
                          {r.trigger} <span class="muted small">{r.actor}</span>
                        </td>
                        <td>{when(r.logical_date)}</td>
                        <td>{when(r.start_time)}</td>
                        <td>{duration(r.start_time, r.end_time)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                {list.runs.length === 0 ? <p class="muted">No runs.</p> : null}
                <Pager next={list.next_page_token} />
              </>
            );
          }}
        </Await>
      </Section>
    </main>
  );
}

/** A task's log, read in pieces from the offset the server names until the try has ended. */
function TaskLog({ project, run, task, tryNumber }: { project: string; run: string; task: string; tryNumber: number | undefined }) {
  const [text, setText] = useState("");
  const [complete, setComplete] = useState(false);
  const [error, setError] = useState<ApiError>();
  useEffect(() => {
    let live = true;
    let offset = 0;
    setText("");
    setComplete(false);
    setError(undefined);
    const read = async () => {
      while (live) {
        const { data, error: err, response } = await api.GET("/api/v1/projects/{project}/pipeline-runs/{run_id}/tasks/{task_id}/log", {
          params: { path: { project, run_id: run, task_id: task }, query: { offset, try_number: tryNumber } },
          parseAs: "text",
        });
        if (!live) return;
        if (!response.ok) {
          let message = `${response.status} ${response.statusText}`;
          try {
            message = (JSON.parse(String(err)) as { message: string }).message;
          } catch {
            /* not JSON */
          }
          setError(new ApiError(message, response.status, "unknown"));
          return;
        }
        const chunk = data ?? "";
        setText((t) => t + chunk);
        const next = Number(response.headers.get("x-lathe-next-offset") ?? offset + chunk.length);
        const done = response.headers.get("x-lathe-log-complete") === "true";
        offset = next;
        if (done) {
          setComplete(true);
          return;
        }
        if (chunk.length === 0) await new Promise((r) => setTimeout(r, 2000));
      }
    };
    void read();
    return () => {
      live = false;
    };
  }, [project, run, task, tryNumber]);
  return (
    <div>
      <ErrorText error={error} />
      <pre class="log">{text || (complete ? "(empty log)" : "")}</pre>
      {!complete && !error ? <p class="muted small">following the log…</p> : null}
    </div>
  );
}

export function PipelineRunPage({ project, run }: { project: string; run: string }) {
  const loc = useLocation();
  const task = loc.query.get("task");
  const tryParam = loc.query.get("try");
  const state = useLoad(
    () => must(api.GET("/api/v1/projects/{project}/pipeline-runs/{run_id}", { params: { path: { project, run_id: run } } })),
    [project, run],
  );
  const pipelineName = state.data?.pipeline;
  // The edges come from the pipeline's current definition (the API has no per-version one).
  const definition = useLoad(
    () =>
      pipelineName
        ? must(api.GET("/api/v1/projects/{project}/pipelines/{name}", { params: { path: { project, name: pipelineName } } }))
        : Promise.resolve(undefined),
    [project, pipelineName],
  );
  const [actionError, setActionError] = useState<ApiError>();
  const active = state.data !== undefined && ["queued", "running"].includes(state.data.state);
  useEvery(3000, state.reload, active);
  const act = (action: "cancel" | "rerun") =>
    must(
      action === "cancel"
        ? api.POST("/api/v1/projects/{project}/pipeline-runs/{run_id}/cancel", { params: { path: { project, run_id: run } } })
        : api.POST("/api/v1/projects/{project}/pipeline-runs/{run_id}/rerun", { params: { path: { project, run_id: run } } }),
    ).then(
      () => {
        setActionError(undefined);
        state.reload();
      },
      (e: ApiError) => setActionError(e),
    );
  return (
    <main>
      <Await state={state}>
        {(r) => (
          <>
            <header class="page-head">
              <h1>
                {r.pipeline} <span class="mono small">{r.run_id}</span> <Badge value={r.state} />
              </h1>
              <button type="button" onClick={() => void act("cancel")} disabled={!["queued", "running"].includes(r.state)}>
                Cancel
              </button>
              <button
                type="button"
                onClick={() => void act("rerun")}
                disabled={!["failed", "cancelled"].includes(r.state)}
                title="only a failed or cancelled run can be re-run: its tasks that did not succeed run again"
              >
                Rerun failed tasks
              </button>
              <ErrorText error={actionError} />
              <button type="button" class="link" onClick={state.reload}>
                Refresh
              </button>
            </header>
            <p class="muted">
              {r.trigger} by {r.actor}; logical date {when(r.logical_date)}; started {when(r.start_time)}; took{" "}
              {duration(r.start_time, r.end_time)}
            </p>
            {Object.keys(r.params).length ? (
              <p class="run-params small">
                {Object.entries(r.params)
                  .sort(([a], [b]) => a.localeCompare(b))
                  .map(([k, v]) => (
                    <span key={k} class="tag">
                      <span class="mono">{k}</span> = <span class="mono">{v}</span>
                    </span>
                  ))}
              </p>
            ) : null}
            <RunDag
              run={r}
              definition={definition.data}
              definitionError={definition.error}
              selected={task}
              onSelect={(id) => navigate(withQuery(loc.path, loc.query, { task: id, try: null }))}
            />
            <table class="grid">
              <thead>
                <tr>
                  <th>Task</th>
                  <th>Kind</th>
                  <th>State</th>
                  <th>Try</th>
                  <th>Worker</th>
                  <th>Started</th>
                  <th>Duration</th>
                  <th>Message</th>
                </tr>
              </thead>
              <tbody>
                {r.tasks.map((t) => (
                  <tr key={t.task_id} class={t.task_id === task ? "selected" : ""}>
                    <td>
                      <a href={withQuery(loc.path, loc.query, { task: t.task_id, try: null })}>{t.task_id}</a>
                    </td>
                    <td>{t.kind}</td>
                    <td>
                      <Badge value={t.state} />
                    </td>
                    <td class="num">
                      {t.try_number}/{t.max_tries}
                    </td>
                    <td>{t.worker}</td>
                    <td>{when(t.start_time)}</td>
                    <td>{duration(t.start_time, t.end_time)}</td>
                    <td class="small">{t.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {task ? (
              <Section title={`Log of ${task}${tryParam ? `, try ${tryParam}` : ""}`}>
                <TaskLog project={project} run={run} task={task} tryNumber={tryParam ? Number(tryParam) : undefined} />
              </Section>
            ) : (
              <p class="muted">Pick a task to read its log.</p>
            )}
          </>
        )}
      </Await>
    </main>
  );
}

/** The run's tasks as a graph, each node in its state; edges from the pipeline's definition. */
function RunDag({
  run,
  definition,
  definitionError,
  selected,
  onSelect,
}: {
  run: Schemas["PipelineRun"];
  definition: Schemas["Pipeline"] | undefined;
  definitionError: ApiError | undefined;
  selected: string | null;
  onSelect: (id: string) => void;
}) {
  const deps = new Map((definition?.tasks ?? []).map((t) => [t.id, t.depends_on]));
  const tasks: DagTask[] = run.tasks.map((t) => ({ id: t.task_id, dependsOn: deps.get(t.task_id) ?? [], state: t.state }));
  return (
    <>
      <Dag tasks={tasks} selected={selected} onSelect={onSelect} />
      {definitionError ? <p class="muted small">Dependencies not shown: {definitionError.message}</p> : null}
      {definition && definition.version !== run.pipeline_version ? (
        <p class="muted small">
          Dependencies as in v{definition.version}, the pipeline&apos;s current version; this run used v{run.pipeline_version}.
        </p>
      ) : null}
    </>
  );
}

/** One input per declared parameter, typed by its declaration and filled with its default. */
function ParamInput({ param, value, onInput }: { param: DeclaredParam; value: string; onInput: (value: string) => void }) {
  const id = `param-${param.name}`;
  const common = { id, name: param.name, "aria-label": param.name };
  switch (param.kind) {
    case "bool":
      return <input {...common} type="checkbox" checked={value === "true"} onChange={(e) => onInput(e.currentTarget.checked ? "true" : "false")} />;
    case "int":
    case "float":
      return (
        <input
          {...common}
          type="number"
          step={param.kind === "int" ? "1" : "any"}
          value={value}
          required={param.default === undefined}
          onInput={(e) => onInput(e.currentTarget.value)}
        />
      );
    case "string":
      return <input {...common} type="text" value={value} required={param.default === undefined} onInput={(e) => onInput(e.currentTarget.value)} />;
  }
}

/**
 * Starts a run with the declared parameters. Shown to everyone: the server decides who may
 * trigger and what values fit, and its refusal is shown next to the button.
 */
function TriggerForm({ project, pipeline }: { project: string; pipeline: Schemas["Pipeline"] }) {
  const params = declaredParams(pipeline.source);
  const initial = () => Object.fromEntries(params.map((pr) => [pr.name, pr.default ?? (pr.kind === "bool" ? "false" : "")]));
  const [values, setValues] = useState<Record<string, string>>(initial);
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  useEffect(() => setValues(initial()), [pipeline.name, pipeline.version]);
  const submit = (e: Event) => {
    e.preventDefault();
    setBusy(true);
    // An empty field is left out, so the server applies the default or says one is needed.
    const given = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ""));
    must(
      api.POST("/api/v1/projects/{project}/pipelines/{name}/runs", {
        params: { path: { project, name: pipeline.name } },
        body: { params: given },
      }),
    ).then(
      (run) => navigate(`/ui/projects/${p(project)}/pipeline-runs/${p(run.run_id)}`),
      (err: ApiError) => {
        setError(err);
        setBusy(false);
      },
    );
  };
  return (
    <form class="trigger" onSubmit={submit}>
      {params.length === 0 ? <p class="muted">This pipeline declares no parameters.</p> : null}
      {params.map((pr) => (
        <div class="param" key={pr.name}>
          <label for={`param-${pr.name}`}>
            <span class="mono">{pr.name}</span> <span class="muted small">{pr.kind}</span>
          </label>
          <ParamInput param={pr} value={values[pr.name] ?? ""} onInput={(v) => setValues((old) => ({ ...old, [pr.name]: v }))} />
          <span class="muted small">{pr.description}</span>
        </div>
      ))}
      <div class="param">
        <span />
        <span>
          <button type="submit" disabled={busy}>
            Trigger
          </button>
          <ErrorText error={error} />
        </span>
      </div>
    </form>
  );
}

/** A pipeline: its task graph as declared, a form to trigger it, and its definition. */
export function PipelinePage({ project, name }: { project: string; name: string }) {
  const loc = useLocation();
  const selected = loc.query.get("task");
  const pipeline = useLoad(
    () => must(api.GET("/api/v1/projects/{project}/pipelines/{name}", { params: { path: { project, name } } })),
    [project, name],
  );
  return (
    <main>
      <Await state={pipeline}>
        {(pl) => {
          const chosen = pl.tasks.find((t) => t.id === selected);
          return (
            <>
              <header class="page-head">
                <h1>
                  {pl.name} <span class="muted small">v{pl.version}</span>
                </h1>
                <a href={`/ui/projects/${p(project)}/pipelines?pipeline=${p(pl.name)}`}>Runs</a>
              </header>
              <p>{pl.description}</p>
              <p class="muted">
                {pl.schedule ? (
                  <>
                    schedule <span class="mono">{pl.schedule}</span> {pl.timezone};{" "}
                  </>
                ) : (
                  "no schedule; "
                )}
                applied by {pl.actor} {when(pl.update_time)}
              </p>
              <Section title="Tasks">
                <Dag
                  tasks={pl.tasks.map((t) => ({ id: t.id, dependsOn: t.depends_on }))}
                  selected={selected}
                  onSelect={(id) => navigate(withQuery(loc.path, loc.query, { task: id === selected ? null : id }), true)}
                />
                {chosen ? (
                  <KeyValues
                    values={{
                      task: <span class="mono">{chosen.id}</span>,
                      kind: chosen.kind,
                      depends_on: chosen.depends_on.join(", ") || "—",
                      trigger_rule: chosen.trigger_rule,
                      when: chosen.when || "always",
                      retries: String(chosen.retries),
                      timeout: chosen.timeout_ms ? `${chosen.timeout_ms / 1000} s` : "none",
                    }}
                  />
                ) : (
                  <p class="muted small">Pick a task to see its declaration.</p>
                )}
              </Section>
              <Section title="Trigger a run">
                <TriggerForm project={project} pipeline={pl} />
              </Section>
              <Section title="Definition">
                <details>
                  <summary>YAML as applied</summary>
                  <pre>{pl.source}</pre>
                </details>
              </Section>
            </>
          );
        }}
      </Await>
    </main>
  );
}

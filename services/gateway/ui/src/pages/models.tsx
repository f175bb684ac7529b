import { useState } from "preact/hooks";
import { api, ApiError, must, type Schemas } from "../api/client";
import { Await, Badge, ErrorText, KeyValues, Pager, Section } from "../components/common";
import { num, when } from "../format";
import { useLoad } from "../hooks";
import { useLocation } from "../router";

const p = encodeURIComponent;
const STAGES: Schemas["Stage"][] = ["None", "Staging", "Production", "Archived"];

export function ModelsPage({ project }: { project: string }) {
  const { query } = useLocation();
  const token = query.get("page_token");
  const state = useLoad(
    () =>
      must(api.GET("/api/v1/projects/{project}/models", { params: { path: { project }, query: { page_size: 50, page_token: token ?? undefined } } })),
    [project, token],
  );
  return (
    <main>
      <h1>Models</h1>
      <Await state={state}>
        {(list) => (
          <>
            <table class="grid">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Description</th>
                  <th>Latest versions</th>
                  <th>Aliases</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {list.models.map((m) => (
                  <tr key={m.name}>
                    <td>
                      <a href={`/ui/projects/${p(project)}/models/${p(m.name)}`}>{m.name}</a>
                    </td>
                    <td>{m.description}</td>
                    <td>
                      {m.latest_versions.map((v) => (
                        <span key={v.version} class="tag">
                          v{v.version} <Badge value={v.stage} />
                        </span>
                      ))}
                    </td>
                    <td>
                      {Object.entries(m.aliases).map(([a, v]) => (
                        <span class="tag" key={a}>
                          @{a} → v{v}
                        </span>
                      ))}
                    </td>
                    <td>{when(m.update_time)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {list.models.length === 0 ? <p class="muted">No models.</p> : null}
            <Pager next={list.next_page_token} />
          </>
        )}
      </Await>
    </main>
  );
}

function gate(condition: Schemas["GateCondition"]): string {
  if ("metric" in condition) return `${condition.metric.key} ${condition.metric.op} ${condition.metric.value}`;
  if ("role" in condition) return `role ≥ ${condition.role}`;
  return `currently ${condition.current_stage}`;
}

/** Moves a version to a stage; the server checks the promotion gates and this shows its answer. */
function StageForm({ project, model, version, onDone }: { project: string; model: string; version: Schemas["ModelVersion"]; onDone: () => void }) {
  const [stage, setStage] = useState<Schemas["Stage"]>(version.stage === "Staging" ? "Production" : "Staging");
  const [archive, setArchive] = useState(false);
  const [reason, setReason] = useState("");
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await must(
        api.POST("/api/v1/projects/{project}/models/{name}/versions/{version}/stage", {
          params: { path: { project, name: model, version: version.version } },
          body: { stage, archive_existing: archive, reason },
        }),
      );
      onDone();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="inline" onSubmit={submit}>
      <select aria-label="stage" value={stage} onChange={(e) => setStage(e.currentTarget.value as Schemas["Stage"])}>
        {STAGES.map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </select>
      <input aria-label="reason" placeholder="reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      <label title="archive the versions now in that stage">
        <input type="checkbox" checked={archive} onChange={(e) => setArchive(e.currentTarget.checked)} /> archive others
      </label>
      <button type="submit" disabled={busy}>
        Move
      </button>
      <ErrorText error={error} />
    </form>
  );
}

function AliasForm({ project, model, versions, onDone }: { project: string; model: string; versions: number[]; onDone: () => void }) {
  const [alias, setAlias] = useState("champion");
  const [version, setVersion] = useState(versions[0] ?? 1);
  const [error, setError] = useState<ApiError>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      await must(
        api.PUT("/api/v1/projects/{project}/models/{name}/aliases/{alias}", {
          params: { path: { project, name: model, alias } },
          body: { version, reason: "" },
        }),
      );
      onDone();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <form class="inline" onSubmit={submit}>
      <input aria-label="alias" value={alias} onInput={(e) => setAlias(e.currentTarget.value)} />
      →
      <input
        aria-label="version"
        type="number"
        min={1}
        value={version}
        onInput={(e) => setVersion(Number(e.currentTarget.value))}
      />
      <button type="submit">Set alias</button>
      <ErrorText error={error} />
    </form>
  );
}

function RemoveAlias({ project, model, alias, onDone }: { project: string; model: string; alias: string; onDone: () => void }) {
  const [error, setError] = useState<ApiError>();
  return (
    <>
      <button
        type="button"
        class="link"
        title={`remove @${alias}`}
        onClick={() =>
          must(
            api.DELETE("/api/v1/projects/{project}/models/{name}/aliases/{alias}", {
              params: { path: { project, name: model, alias } },
            }),
          ).then(onDone, (e: ApiError) => setError(e))
        }
      >
        ✕
      </button>
      <ErrorText error={error} />
    </>
  );
}

function Lineage({ project, lineage }: { project: string; lineage: Schemas["Lineage"] | null | undefined }) {
  if (!lineage) return <span class="muted">—</span>;
  return (
    <div class="small">
      {lineage.feature_service ? <div>service: {lineage.feature_service}</div> : null}
      {lineage.feature_views?.length ? <div>views: {lineage.feature_views.join(", ")}</div> : null}
      {lineage.training_dataset ? <div class="mono">dataset: {lineage.training_dataset}</div> : null}
      {lineage.orchestrator_run ? (
        <div>
          pipeline run:{" "}
          <a href={`/ui/projects/${p(project)}/pipeline-runs/${p(lineage.orchestrator_run)}`}>{lineage.orchestrator_run.slice(0, 12)}</a>
        </div>
      ) : null}
    </div>
  );
}

export function ModelPage({ project, model }: { project: string; model: string }) {
  const { query } = useLocation();
  const token = query.get("page_token");
  const auditToken = query.get("audit_page");
  const info = useLoad(() => must(api.GET("/api/v1/projects/{project}/models/{name}", { params: { path: { project, name: model } } })), [project, model]);
  const versions = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/models/{name}/versions", {
          params: { path: { project, name: model }, query: { page_size: 25, page_token: token ?? undefined } },
        }),
      ),
    [project, model, token],
  );
  const audit = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/models/{name}/audit", {
          params: { path: { project, name: model }, query: { page_size: 25, page_token: auditToken ?? undefined } },
        }),
      ),
    [project, model, auditToken],
  );
  const refresh = () => {
    info.reload();
    versions.reload();
    audit.reload();
  };
  return (
    <main>
      <h1>{model}</h1>
      <Await state={info}>
        {(m) => (
          <>
            {m.description ? <p>{m.description}</p> : null}
            <div class="columns-2">
              <Section title="Aliases">
                <KeyValues
                  values={Object.fromEntries(
                    Object.entries(m.aliases).map(([a, v]) => [
                      `@${a}`,
                      <>
                        v{v} <RemoveAlias project={project} model={model} alias={a} onDone={refresh} />
                      </>,
                    ]),
                  )}
                />
                <AliasForm project={project} model={model} versions={m.latest_versions.map((v) => v.version)} onDone={refresh} />
              </Section>
              <Section title="Promotion gates">
                {m.policies.length === 0 ? (
                  <p class="muted">none: any editor may move a version</p>
                ) : (
                  <ul>
                    {m.policies.map((pol) => (
                      <li key={pol.stage}>
                        to <Badge value={pol.stage} />: {(pol.conditions ?? []).map(gate).join("; ") || "no conditions"}
                      </li>
                    ))}
                  </ul>
                )}
                <KeyValues values={m.tags} empty="no tags" />
              </Section>
            </div>
          </>
        )}
      </Await>
      <Section title="Versions">
        <Await state={versions}>
          {(list) => (
            <>
              <div class="scroll">
                <table class="grid">
                  <thead>
                    <tr>
                      <th>Version</th>
                      <th>Stage</th>
                      <th>Aliases</th>
                      <th>Metrics at registration</th>
                      <th>Signature</th>
                      <th>Lineage</th>
                      <th>Run</th>
                      <th>Created</th>
                      <th>Move to stage</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.versions.map((v) => (
                      <tr key={v.version}>
                        <td>v{v.version}</td>
                        <td>
                          <Badge value={v.stage} />
                        </td>
                        <td>{v.aliases.map((a) => `@${a}`).join(" ")}</td>
                        <td class="small">
                          {Object.entries(v.metrics)
                            .sort()
                            .map(([k, x]) => (
                              <div key={k}>
                                {k} <b>{num(x)}</b>
                              </div>
                            ))}
                        </td>
                        <td class="small mono">
                          {v.signature ? (
                            <>
                              <div>in: {(v.signature.inputs ?? []).join(", ")}</div>
                              <div>out: {v.signature.output}</div>
                            </>
                          ) : (
                            "—"
                          )}
                        </td>
                        <td>
                          <Lineage project={project} lineage={v.lineage} />
                        </td>
                        <td>
                          {v.run_id ? <a href={`/ui/projects/${p(project)}/runs/${p(v.run_id)}`}>{v.run_id.slice(0, 8)}</a> : "—"}
                        </td>
                        <td>
                          {when(v.create_time)}
                          <div class="muted small">{v.created_by}</div>
                        </td>
                        <td>
                          <StageForm project={project} model={model} version={v} onDone={refresh} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager next={list.next_page_token} />
            </>
          )}
        </Await>
      </Section>
      <Section title="Audit log">
        <Await state={audit}>
          {(log) => (
            <>
              <table class="grid">
                <thead>
                  <tr>
                    <th>Time</th>
                    <th>Actor</th>
                    <th>Action</th>
                    <th>Version</th>
                    <th>From</th>
                    <th>To</th>
                    <th>Reason</th>
                  </tr>
                </thead>
                <tbody>
                  {log.events.map((e) => (
                    <tr key={e.id}>
                      <td>{when(e.time)}</td>
                      <td>{e.actor}</td>
                      <td>{e.action}</td>
                      <td>v{e.version}</td>
                      <td>{e.from}</td>
                      <td>{e.to}</td>
                      <td>{e.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {log.events.length === 0 ? <p class="muted">no events</p> : null}
              <Pager next={log.next_page_token} param="audit_page" />
            </>
          )}
        </Await>
      </Section>
    </main>
  );
}

export function DeploymentsPage({ project }: { project: string }) {
  const state = useLoad(() => must(api.GET("/api/v1/projects/{project}/deployments", { params: { path: { project } } })), [project]);
  return (
    <main>
      <h1>Deployments</h1>
      <Await state={state}>
        {(list) => (
          <>
            <table class="grid">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Model</th>
                  <th>Alias</th>
                  <th>Serving</th>
                  <th>Challenger</th>
                  <th>Monitor</th>
                  <th>Sample rate</th>
                  <th>Last error</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {list.deployments.map((d) => (
                  <tr key={d.name}>
                    <td>{d.name}</td>
                    <td>
                      <a href={`/ui/projects/${p(project)}/models/${p(d.model)}`}>{d.model}</a>
                    </td>
                    <td>@{d.alias}</td>
                    <td>{d.serving ? `v${d.serving.version} since ${when(d.serving.loaded_time)}` : <span class="muted">nothing loaded</span>}</td>
                    <td>
                      {d.challenger
                        ? `@${d.challenger.alias} ${d.challenger.mode}${d.challenger.traffic_percent ? ` ${d.challenger.traffic_percent}%` : ""}`
                        : "—"}
                      {d.challenger_serving ? ` (v${d.challenger_serving.version})` : ""}
                    </td>
                    <td>{d.monitor ? <a href={`/ui/projects/${p(project)}/monitors/${p(d.monitor)}`}>{d.monitor}</a> : "—"}</td>
                    <td class="num">{num(d.sample_rate)}</td>
                    <td class="error">{d.last_error}</td>
                    <td>{when(d.update_time)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {list.deployments.length === 0 ? <p class="muted">No deployments.</p> : null}
          </>
        )}
      </Await>
    </main>
  );
}

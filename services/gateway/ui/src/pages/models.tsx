import { useState } from "preact/hooks";
import { api, ApiError, must, type Schemas } from "../api/client";
import { Await, Badge, ErrorText, KeyValues, Listing, Pager, Section } from "../components/common";
import { Field, FormError, Opener, useSubmission } from "../components/forms";
import { num, when } from "../format";
import { useLoad } from "../hooks";
import { navigate, useLocation, withQuery } from "../router";

const p = encodeURIComponent;
const STAGES: Schemas["Stage"][] = ["None", "Staging", "Production", "Archived"];

const OPS = [">", ">=", "<", "<=", "=", "!="];
/** The fields of the new-model form, as the server names them in a refusal. */
const MODEL_FIELDS = [
  "name",
  "description",
  "policies[0].stage",
  "policies[0].conditions[0].metric.key",
  "policies[0].conditions[0].metric.op",
  "policies[0].conditions[0].metric.value",
];

/**
 * Creates a model, optionally with one promotion gate on a metric (more can be declared
 * through the API). The server creates the model and its gate together or not at all; its
 * refusal shows beside the field it names.
 */
function NewModel({ project, close }: { project: string; close: () => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [gated, setGated] = useState(false);
  const [stage, setStage] = useState<Schemas["Stage"]>("Staging");
  const [key, setKey] = useState("accuracy");
  const [op, setOp] = useState(">");
  const [value, setValue] = useState("0.9");
  const submission = useSubmission();
  const submit = async (e: Event) => {
    e.preventDefault();
    const policies: Schemas["PromotionPolicy"][] = gated
      ? [{ stage, conditions: [{ metric: { key, op, value: Number(value) } }] }]
      : [];
    const created = await submission.run(() =>
      must(api.POST("/api/v1/projects/{project}/models", { params: { path: { project } }, body: { name, description, policies } })),
    );
    if (created) {
      close();
      navigate(`/ui/projects/${p(project)}/models/${p(name)}`);
    }
  };
  const err = submission.error;
  return (
    <form class="stacked" onSubmit={submit} aria-label="new model">
      <Field label="Name" name="name" error={err}>
        <input name="name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Field label="Description" name="description" error={err}>
        <input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </Field>
      <label>
        <input type="checkbox" checked={gated} onChange={(e) => setGated(e.currentTarget.checked)} /> with a promotion gate
      </label>
      {gated ? (
        <fieldset>
          <Field label="Into stage" name="policies[0].stage" error={err}>
            <select name="stage" value={stage} onChange={(e) => setStage(e.currentTarget.value as Schemas["Stage"])}>
              {STAGES.filter((s) => s !== "None").map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </Field>
          <Field label="only if metric" name="policies[0].conditions[0].metric.key" error={err}>
            <input name="metric" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
          </Field>
          <Field label="is" name="policies[0].conditions[0].metric.op" error={err}>
            <select name="op" value={op} onChange={(e) => setOp(e.currentTarget.value)}>
              {OPS.map((o) => (
                <option key={o}>{o}</option>
              ))}
            </select>
          </Field>
          <Field label="than" name="policies[0].conditions[0].metric.value" error={err}>
            <input name="value" type="number" step="any" required value={value} onInput={(e) => setValue(e.currentTarget.value)} />
          </Field>
        </fieldset>
      ) : null}
      <button type="submit" disabled={submission.busy}>
        Create model
      </button>
      <FormError error={err} fields={gated ? MODEL_FIELDS : MODEL_FIELDS.slice(0, 2)} />
    </form>
  );
}

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
      <header class="page-head">
        <h1>Models</h1>
        <Opener label="New model">{(close) => <NewModel project={project} close={close} />}</Opener>
      </header>
      <Await state={state}>
        {(list) => (
          <Listing
            items={list.models}
            head={["Name", "Description", "Latest versions", "Aliases", "Updated"]}
            empty="No models." next={list.next_page_token}
            row={(m) => (
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
            )}
          />
        )}
      </Await>
    </main>
  );
}

function conditionText(condition: Schemas["GateCondition"]): string {
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
  // The newest version by default: the one an alias usually moves to.
  const [version, setVersion] = useState(versions.length ? Math.max(...versions) : 1);
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
  if (!lineage) return <p class="muted">none</p>;
  return (
    <div class="small">
      {lineage.feature_service ? <div>service: {lineage.feature_service}</div> : null}
      {lineage.feature_views?.length ? (
        <div>
          views:{" "}
          {lineage.feature_views.map((view, i) => (
            <>
              {i ? ", " : ""}
              <a key={view} href={`/ui/projects/${p(project)}/features?name=${p(`feature_view/${view}`)}`}>
                {view}
              </a>
            </>
          ))}
        </div>
      ) : null}
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

/** One version: its signature, lineage and gates as they stand now, and the stage form. */
function VersionDetail({
  project,
  model,
  version,
  onDone,
}: {
  project: string;
  model: string;
  version: Schemas["ModelVersion"];
  onDone: () => void;
}) {
  const gates = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/models/{name}/versions/{version}/gates", {
          params: { path: { project, name: model, version: version.version } },
        }),
      ),
    [project, model, version.version, version.stage, version.update_time],
  );
  return (
    <div class="columns-2 version-detail">
      <div>
        <h3>Move v{version.version} to a stage</h3>
        <StageForm project={project} model={model} version={version} onDone={onDone} />
        <h3>Promotion gates for you, now</h3>
        <Await state={gates}>
          {(g) =>
            g.gates.length === 0 ? (
              <p class="muted">no gates: any editor may move this version</p>
            ) : (
              <ul class="gates">
                {g.gates.map((gate) => (
                  <li key={gate.stage}>
                    to <Badge value={gate.stage} />{" "}
                    <b class={gate.allowed ? "pass" : "fail"}>{gate.allowed ? "would pass" : "would be refused"}</b>
                    <ul>
                      {gate.conditions.map((c, i) => (
                        <li key={i} class={c.passed ? "pass" : "fail"}>
                          {c.passed ? "✓" : "✗"} {conditionText(c.condition)}: {c.reason}
                          {c.implied ? <span class="muted"> (the registry's rule for Production without a role condition)</span> : null}
                        </li>
                      ))}
                    </ul>
                  </li>
                ))}
              </ul>
            )
          }
        </Await>
      </div>
      <div>
        <h3>Signature</h3>
        {version.signature ? (
          <div class="small mono">
            <div>in: {(version.signature.inputs ?? []).join(", ")}</div>
            <div>out: {version.signature.output}</div>
          </div>
        ) : (
          <p class="muted">none</p>
        )}
        <h3>Lineage</h3>
        <Lineage project={project} lineage={version.lineage} />
        <h3>Source</h3>
        <div class="small mono">{version.source || version.artifact_uri}</div>
        {version.description ? <p>{version.description}</p> : null}
      </div>
    </div>
  );
}

export function ModelPage({ project, model }: { project: string; model: string }) {
  const loc = useLocation();
  const { query } = loc;
  const open = query.get("version");
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
                        to <Badge value={pol.stage} />: {(pol.conditions ?? []).map(conditionText).join("; ") || "no conditions"}
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
                      <th>Run</th>
                      <th>Created</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.versions.map((v) => {
                      const isOpen = open === String(v.version);
                      return [
                        <tr key={v.version} class={isOpen ? "selected" : ""}>
                          <td>
                            <a
                              href={withQuery(loc.path, loc.query, { version: isOpen ? null : String(v.version) })}
                              onClick={(e) => {
                                e.preventDefault();
                                navigate(withQuery(loc.path, loc.query, { version: isOpen ? null : String(v.version) }), true);
                              }}
                            >
                              v{v.version}
                            </a>
                          </td>
                          <td>
                            <Badge value={v.stage} />
                          </td>
                          <td>{v.aliases.map((a) => `@${a}`).join(" ")}</td>
                          <td class="small">
                            {Object.entries(v.metrics)
                              .sort()
                              .map(([k, x]) => (
                                <span key={k} class="metric">
                                  {k} <b>{num(x)}</b>
                                </span>
                              ))}
                          </td>
                          <td>
                            {v.run_id ? <a href={`/ui/projects/${p(project)}/runs/${p(v.run_id)}`}>{v.run_id.slice(0, 8)}</a> : "—"}
                          </td>
                          <td>
                            {when(v.create_time)} <span class="muted small">{v.created_by}</span>
                          </td>
                        </tr>,
                        isOpen ? (
                          <tr key={`${v.version}-detail`} class="detail">
                            <td colSpan={6}>
                              <VersionDetail project={project} model={model} version={v} onDone={refresh} />
                            </td>
                          </tr>
                        ) : null,
                      ];
                    })}
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
            <Listing
              items={log.events}
              head={["Time", "Actor", "Action", "Version", "From", "To", "Reason"]}
              empty="no events" next={log.next_page_token} pageParam="audit_page"
              row={(e) => (
                <tr key={e.id}>
                  <td>{when(e.time)}</td>
                  <td>{e.actor}</td>
                  <td>{e.action}</td>
                  <td>v{e.version}</td>
                  <td>{e.from}</td>
                  <td>{e.to}</td>
                  <td>{e.reason}</td>
                </tr>
              )}
            />
          )}
        </Await>
      </Section>
    </main>
  );
}

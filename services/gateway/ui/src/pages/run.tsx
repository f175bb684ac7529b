import { api, ApiError, encodePath, must, type Schemas } from "../api/client";
import { LineChart } from "../components/chart";
import { Await, Badge, KeyValues, Section } from "../components/common";
import { bytes, duration, num, when } from "../format";
import { useLoad } from "../hooks";
import { navigate, useLocation, withQuery } from "../router";

const p = encodeURIComponent;

/** Every point of a metric's history, following the server's pages (up to 20,000 points). */
export async function metricHistory(project: string, run: string, key: string): Promise<Schemas["Metric"][]> {
  const points: Schemas["Metric"][] = [];
  let token: string | null = null;
  for (let page = 0; page < 20; page++) {
    const got: Schemas["MetricHistory"] = await must(
      api.GET("/api/v1/projects/{project}/runs/{run_id}/metrics/{key}/history", {
        params: { path: { project, run_id: run, key }, query: { page_size: 1000, page_token: token ?? undefined } },
      }),
    );
    points.push(...got.metrics);
    if (!got.next_page_token) break;
    token = got.next_page_token;
  }
  return points;
}

function MetricChart({ project, run, metric }: { project: string; run: string; metric: string }) {
  const state = useLoad(() => metricHistory(project, run, metric), [project, run, metric]);
  return (
    <div class="chart-card">
      <h3>{metric}</h3>
      <Await state={state}>
        {(points) =>
          points.length <= 1 ? (
            <p class="muted">
              {points.length === 1 ? `one value: ${num(points[0].value)} at step ${points[0].step}` : "no history"}
            </p>
          ) : (
            <LineChart xLabel="step" series={[{ name: metric, points: points.map((m) => [m.step, m.value]) }]} />
          )
        }
      </Await>
    </div>
  );
}

/** Files up to this size are previewed in the page; larger ones are only downloaded. */
const PREVIEW_LIMIT = 2 * 1024 * 1024;
const IMAGE_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  svg: "image/svg+xml",
};
const TEXT_EXTENSIONS = new Set(["txt", "log", "md", "yaml", "yml", "toml", "ini", "cfg", "py", "sh", "sql", "xml", "html", "mlmodel", "requirements", "env"]);

type Preview =
  | { kind: "json"; text: string }
  | { kind: "csv"; rows: string[][]; total: number }
  | { kind: "text"; text: string }
  | { kind: "image"; url: string }
  | { kind: "none"; why: string };

function extension(path: string): string {
  const name = path.split("/").pop() ?? "";
  if (!name.includes(".")) return name.toLowerCase() === "mlmodel" ? "mlmodel" : "";
  return name.slice(name.lastIndexOf(".") + 1).toLowerCase();
}

/** Splits CSV text into rows, honouring quoted fields; at most `limit` rows. */
export function parseCsv(text: string, separator: string, limit: number): { rows: string[][]; total: number } {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let total = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === separator) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      field = "";
      total++;
      if (rows.length < limit) rows.push(row);
      row = [];
    } else field += c;
  }
  if (field !== "" || row.length) {
    row.push(field);
    total++;
    if (rows.length < limit) rows.push(row);
  }
  return { rows, total };
}

async function loadPreview(url: string, artifact: Schemas["Artifact"]): Promise<Preview> {
  const ext = extension(artifact.path);
  const image = IMAGE_TYPES[ext];
  const textual = ext === "json" || ext === "csv" || ext === "tsv" || TEXT_EXTENSIONS.has(ext);
  if (!image && !textual) return { kind: "none", why: `no preview for .${ext || "(no extension)"} files: download it` };
  if (artifact.size > PREVIEW_LIMIT) return { kind: "none", why: `${bytes(artifact.size)} is too large to preview: download it` };
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as Partial<Schemas["ErrorBody"]>;
    throw new ApiError(body.message ?? `${response.status} ${response.statusText}`, response.status, body.code ?? "unknown");
  }
  if (image) {
    // A blob of the right type shown as an image: the server sends every artifact as
    // octet-stream, and an SVG shown through <img> runs no script.
    return { kind: "image", url: URL.createObjectURL(new Blob([await response.arrayBuffer()], { type: image })) };
  }
  const text = await response.text();
  if (ext === "json") {
    try {
      return { kind: "json", text: JSON.stringify(JSON.parse(text), null, 2) };
    } catch {
      return { kind: "text", text };
    }
  }
  if (ext === "csv" || ext === "tsv") return { kind: "csv", ...parseCsv(text, ext === "tsv" ? "\t" : ",", 101) };
  return { kind: "text", text };
}

function ArtifactPreview({ url, artifact }: { url: string; artifact: Schemas["Artifact"] }) {
  const state = useLoad(() => loadPreview(url, artifact), [url, artifact.sha256]);
  return (
    <div class="preview" aria-label={`preview of ${artifact.path}`}>
      <Await state={state}>
        {(preview) => {
          switch (preview.kind) {
            case "image":
              return <img src={preview.url} alt={artifact.path} />;
            case "json":
            case "text":
              return <pre>{preview.text}</pre>;
            case "csv":
              return (
                <div class="scroll">
                  <table class="grid">
                    <thead>
                      <tr>
                        {(preview.rows[0] ?? []).map((h, i) => (
                          <th key={i}>{h}</th>
                        ))}
                      </tr>
                    </thead>
                    <tbody>
                      {preview.rows.slice(1).map((r, i) => (
                        <tr key={i}>
                          {r.map((c, j) => (
                            <td key={j}>{c}</td>
                          ))}
                        </tr>
                      ))}
                    </tbody>
                  </table>
                  {preview.total > preview.rows.length ? (
                    <p class="muted">
                      the first {preview.rows.length - 1} of {preview.total - 1} rows
                    </p>
                  ) : null}
                </div>
              );
            case "none":
              return <p class="muted">{preview.why}</p>;
          }
        }}
      </Await>
    </div>
  );
}

function Artifacts({ project, run }: { project: string; run: string }) {
  const loc = useLocation();
  const dir = loc.query.get("path") ?? "";
  const state = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/runs/{run_id}/artifacts", {
          params: { path: { project, run_id: run }, query: { path: dir || null } },
        }),
      ),
    [project, run, dir],
  );
  const parent = dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) : null;
  const shown = loc.query.get("preview");
  // Paths are the run's; the table names each entry within the folder it shows.
  const name = (path: string) => (dir && path.startsWith(`${dir}/`) ? path.slice(dir.length + 1) : path);
  const fileUrl = (path: string) => `/api/v1/projects/${p(project)}/runs/${p(run)}/artifacts/${encodePath(path)}`;
  return (
    <Section title={dir ? `Artifacts: ${dir}` : "Artifacts"}>
      {dir ? <a href={withQuery(loc.path, loc.query, { path: parent, preview: null })}>↑ up</a> : null}
      <Await state={state}>
        {(list) =>
          list.artifacts.length === 0 ? (
            <p class="muted">none</p>
          ) : (
            <table class="grid">
              <thead>
                <tr>
                  <th>Path</th>
                  <th>Size</th>
                  <th>sha256</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {list.artifacts.map((a) => [
                  <tr key={a.path} class={shown === a.path ? "selected" : ""}>
                    <td>
                      {a.is_dir ? (
                        <a href={withQuery(loc.path, loc.query, { path: a.path, preview: null })}>{name(a.path)}/</a>
                      ) : (
                        <a
                          href={withQuery(loc.path, loc.query, { preview: shown === a.path ? null : a.path })}
                          onClick={(e) => {
                            e.preventDefault();
                            navigate(withQuery(loc.path, loc.query, { preview: shown === a.path ? null : a.path }), true);
                          }}
                        >
                          {name(a.path)}
                        </a>
                      )}
                    </td>
                    <td class="num">{a.is_dir ? "" : bytes(a.size)}</td>
                    <td class="mono small">{a.sha256.slice(0, 16)}</td>
                    <td>
                      {a.is_dir ? null : (
                        <a href={fileUrl(a.path)} download={a.path.split("/").pop()}>
                          download
                        </a>
                      )}
                    </td>
                  </tr>,
                  shown === a.path && !a.is_dir ? (
                    <tr key={`${a.path}-preview`} class="detail">
                      <td colSpan={4}>
                        <ArtifactPreview url={fileUrl(a.path)} artifact={a} />
                      </td>
                    </tr>
                  ) : null,
                ])}
              </tbody>
            </table>
          )
        }
      </Await>
    </Section>
  );
}

export function RunPage({ project, run }: { project: string; run: string }) {
  const state = useLoad(
    () => must(api.GET("/api/v1/projects/{project}/runs/{run_id}", { params: { path: { project, run_id: run } } })),
    [project, run],
  );
  return (
    <main>
      <Await state={state}>
        {(r) => (
          <>
            <header class="page-head">
              <h1>
                {r.name || r.run_id} <Badge value={r.status} />
              </h1>
              <a href={`/ui/projects/${p(project)}/experiments/${p(r.experiment_id)}`}>experiment {r.experiment_id}</a>
            </header>
            <KeyValues
              values={{
                "run id": <span class="mono">{r.run_id}</span>,
                started: when(r.start_time_ms),
                ended: when(r.end_time_ms),
                duration: duration(r.start_time_ms, r.end_time_ms),
                user: r.user_id,
                lifecycle: r.lifecycle_stage,
                "artifact uri": <span class="mono">{r.artifact_uri}</span>,
              }}
            />
            <div class="columns-2">
              <Section title="Params">
                <KeyValues values={r.params} />
              </Section>
              <Section title="Latest metrics">
                <KeyValues
                  values={Object.fromEntries(
                    r.latest_metrics.map((m) => [m.key, <span title={`step ${m.step}, ${when(m.timestamp_ms)}`}>{num(m.value)}</span>]),
                  )}
                />
              </Section>
            </div>
            <Section title="Tags">
              <KeyValues values={r.tags} />
            </Section>
            {r.model_outputs.length ? (
              <Section title="Logged models">
                <ul>
                  {r.model_outputs.map((m) => (
                    <li key={JSON.stringify(m)} class="mono">
                      {JSON.stringify(m)}
                    </li>
                  ))}
                </ul>
              </Section>
            ) : null}
            <Section title="Metric history">
              <div class="charts">
                {r.latest_metrics.map((m) => (
                  <MetricChart key={m.key} project={project} run={r.run_id} metric={m.key} />
                ))}
              </div>
              {r.latest_metrics.length === 0 ? <p class="muted">no metrics</p> : null}
            </Section>
            <Artifacts project={project} run={r.run_id} />
          </>
        )}
      </Await>
    </main>
  );
}

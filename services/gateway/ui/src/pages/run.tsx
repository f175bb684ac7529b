import { api, encodePath, must, type Schemas } from "../api/client";
import { LineChart } from "../components/chart";
import { Await, Badge, KeyValues, Section } from "../components/common";
import { bytes, duration, num, when } from "../format";
import { useLoad } from "../hooks";
import { useLocation, withQuery } from "../router";

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
  return (
    <Section title={dir ? `Artifacts: ${dir}` : "Artifacts"}>
      {dir ? <a href={withQuery(loc.path, loc.query, { path: parent })}>↑ up</a> : null}
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
                </tr>
              </thead>
              <tbody>
                {list.artifacts.map((a) => (
                  <tr key={a.path}>
                    <td>
                      {a.is_dir ? (
                        <a href={withQuery(loc.path, loc.query, { path: a.path })}>{a.path}/</a>
                      ) : (
                        <a
                          href={`/api/v1/projects/${p(project)}/runs/${p(run)}/artifacts/${encodePath(a.path)}`}
                          download={a.path.split("/").pop()}
                        >
                          {a.path}
                        </a>
                      )}
                    </td>
                    <td class="num">{a.is_dir ? "" : bytes(a.size)}</td>
                    <td class="mono small">{a.sha256.slice(0, 16)}</td>
                  </tr>
                ))}
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

import { api, must, type Schemas } from "../api/client";
import { LineChart } from "../components/chart";
import { Await, Badge, Listing, Pager, Section } from "../components/common";
import { num, when } from "../format";
import { useLoad } from "../hooks";
import { useLocation } from "../router";

const p = encodeURIComponent;

export function MonitorsPage({ project }: { project: string }) {
  const token = useLocation().query.get("page_token");
  const state = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/monitors", {
          params: { path: { project }, query: { page_size: 50, page_token: token ?? undefined } },
        }),
      ),
    [project, token],
  );
  return (
    <main>
      <h1>Monitors</h1>
      <Await state={state}>
        {(list) => (
          <Listing
            items={list.monitors}
            head={["Name", "Model", "Task", "Window", "Columns checked", "Drift share", "Retrain", "State"]}
            empty="No monitors."
            next={list.next_page_token}
            row={(m) => (
              <tr key={m.name}>
                <td>
                  <a href={`/ui/projects/${p(project)}/monitors/${p(m.name)}`}>{m.name}</a>
                </td>
                <td>{m.model ? <a href={`/ui/projects/${p(project)}/models/${p(m.model)}`}>{m.model}</a> : "—"}</td>
                <td>{m.task}</td>
                <td>{m.window_seconds}s</td>
                <td class="small">{m.checks.map((c) => c.column).join(", ")}</td>
                <td class="num">{m.drift_share ? num(m.drift_share) : "default"}</td>
                <td>{m.retrain_pipeline || "—"}</td>
                <td>{m.paused ? "paused" : "active"}</td>
              </tr>
            )}
          />
        )}
      </Await>
    </main>
  );
}

/**
 * Each column's drift statistic over the windows. P-values (tests such as KS) can span hundreds
 * of orders of magnitude, so when they do the chart plots their log10.
 */
function DriftChart({ windows }: { windows: Schemas["WindowResult"][] }) {
  const columns = [...new Set(windows.flatMap((w) => w.columns.map((c) => c.column)))].sort();
  const values = windows.flatMap((w) => w.columns.map((c) => c.statistic ?? NaN)).filter(Number.isFinite);
  const positive = values.filter((v) => v > 0);
  const log = positive.length === values.length && positive.length > 0 && Math.max(...positive) / Math.min(...positive) > 1e3;
  const series = columns.map((column) => ({
    name: column,
    points: windows
      .flatMap((w): [number, number][] => {
        const c = w.columns.find((x) => x.column === column);
        const t = new Date(w.window_start ?? "").getTime();
        return c && c.statistic !== null && c.statistic !== undefined && Number.isFinite(t)
          ? [[t, log ? Math.log10(c.statistic) : c.statistic]]
          : [];
      })
      .sort((a, b) => a[0] - b[0]),
  }));
  return (
    <>
      <LineChart series={series} xLabel="window start" time />
      <p class="muted small">
        {log ? "log10 of each column's statistic" : "each column's statistic"}: a p-value drifts when below its threshold, a
        distance when above.
      </p>
    </>
  );
}

export function MonitorPage({ project, monitor }: { project: string; monitor: string }) {
  const { query } = useLocation();
  const token = query.get("page_token");
  const alertToken = query.get("alerts_page");
  const info = useLoad(
    () => must(api.GET("/api/v1/projects/{project}/monitors/{monitor}", { params: { path: { project, monitor } } })),
    [project, monitor],
  );
  const windows = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/monitors/{monitor}/windows", {
          params: { path: { project, monitor }, query: { page_size: 50, page_token: token ?? undefined } },
        }),
      ),
    [project, monitor, token],
  );
  const alerts = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/alerts", {
          params: { path: { project }, query: { monitor, page_size: 20, page_token: alertToken ?? undefined } },
        }),
      ),
    [project, monitor, alertToken],
  );
  const report = (w: Schemas["WindowResult"]) =>
    `/api/v1/projects/${p(project)}/monitors/${p(monitor)}/windows/${p(w.window_start ?? "")}/report.html`;
  return (
    <main>
      <h1>Monitor {monitor}</h1>
      <Await state={info}>
        {(m) => (
          <p class="muted">
            {m.description} model {m.model || "—"}; {m.task}; windows of {m.window_seconds}s; alert when a share of at least{" "}
            {m.drift_share ? num(m.drift_share) : "the default"} of the columns drift; retrains with {m.retrain_pipeline || "nothing"}
            {m.paused ? "; paused" : ""}
          </p>
        )}
      </Await>
      <Await state={windows}>
        {(list) => (
          <>
            <Section title="Drift score per column">
              <DriftChart windows={list.windows} />
            </Section>
            <Section title="Windows">
              <div class="scroll">
                <table class="grid">
                  <thead>
                    <tr>
                      <th>Window</th>
                      <th>Rows</th>
                      <th>Drift</th>
                      <th>Columns (statistic / threshold)</th>
                      <th>Performance</th>
                      <th>Report</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.windows.map((w) => (
                      <tr key={w.window_start ?? ""}>
                        <td>
                          {when(w.window_start)}
                          <div class="muted small">to {when(w.window_end)}</div>
                        </td>
                        <td class="num">
                          {w.rows}
                          <div class="muted small">ref {w.reference_rows}</div>
                        </td>
                        <td>
                          <Badge value={w.drifted ? "drifted" : "ok"} />
                          <div class="small">
                            {w.drifted_columns} of {w.columns.length} columns; share {num(w.drifted_share)}, alert at{" "}
                            {num(w.share_threshold)}
                          </div>
                        </td>
                        <td class="small">
                          {w.columns.map((c) => (
                            <div key={c.column} class={c.drifted ? "drifted" : ""} title={c.note}>
                              {c.column}: {c.method} {num(c.statistic)} / {num(c.threshold)}
                              {c.drifted ? " ⚠" : ""}
                            </div>
                          ))}
                        </td>
                        <td class="small">
                          {w.performance
                            ? Object.entries(w.performance)
                                .filter(([, v]) => v !== null && v !== undefined)
                                .map(([k, v]) => (
                                  <div key={k}>
                                    {k} {num(v as number)}
                                  </div>
                                ))
                            : "—"}
                        </td>
                        <td>
                          <a href={report(w)} target="_blank" rel="noopener">
                            report.html
                          </a>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {list.windows.length === 0 ? <p class="muted">No windows checked yet.</p> : null}
              <Pager next={list.next_page_token} />
            </Section>
          </>
        )}
      </Await>
      <Section title="Alerts">
        <Await state={alerts}>
          {(list) => (
            <>
              <table class="grid">
                <thead>
                  <tr>
                    <th>Raised</th>
                    <th>Window</th>
                    <th>Drifted columns</th>
                    <th>Message</th>
                    <th>Retraining runs</th>
                    <th>Webhook</th>
                  </tr>
                </thead>
                <tbody>
                  {list.alerts.map((a) => (
                    <tr key={a.id}>
                      <td>{when(a.create_time)}</td>
                      <td>{when(a.window_start)}</td>
                      <td>
                        {a.drifted_columns.join(", ")} ({num(a.drifted_share)})
                      </td>
                      <td class="small">{a.message}</td>
                      <td>
                        {a.runs.map((r) =>
                          r.run_id ? (
                            <a key={r.run_id} href={`/ui/projects/${p(project)}/pipeline-runs/${p(r.run_id)}`}>
                              {r.pipeline}
                            </a>
                          ) : (
                            <span key={r.pipeline} class="muted">
                              {r.pipeline} (cooldown)
                            </span>
                          ),
                        )}
                        {a.trigger_error ? <span class="error"> {a.trigger_error}</span> : null}
                      </td>
                      <td>
                        {a.webhook}
                        {a.webhook_error ? <span class="error"> {a.webhook_error}</span> : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {list.alerts.length === 0 ? <p class="muted">No alerts.</p> : null}
              <Pager next={list.next_page_token} param="alerts_page" />
            </>
          )}
        </Await>
      </Section>
    </main>
  );
}

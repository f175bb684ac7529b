import { api, must, type Schemas } from "../api/client";
import { LineChart } from "../components/chart";
import { Await } from "../components/common";
import { num } from "../format";
import { useLoad } from "../hooks";
import { navigate, useLocation, withQuery } from "../router";
import { metricHistory } from "./run";

const p = encodeURIComponent;

/** Each run's name, with the start of its id when another compared run has the same name. */
function labels(runs: Schemas["Run"][]): string[] {
  const names = runs.map((r) => r.name || r.run_id);
  return names.map((n, i) => (names.filter((m) => m === n).length > 1 ? `${n} (${runs[i].run_id.slice(0, 8)})` : n));
}

function Overlay({ project, runs, metric }: { project: string; runs: Schemas["Run"][]; metric: string }) {
  const state = useLoad(
    () =>
      Promise.all(
        runs.map(async (r, i) => ({
          name: labels(runs)[i],
          points: (await metricHistory(project, r.run_id, metric)).map((m): [number, number] => [m.step, m.value]),
        })),
      ),
    [project, runs.map((r) => r.run_id).join(","), metric],
  );
  return <Await state={state}>{(series) => <LineChart xLabel="step" series={series} />}</Await>;
}

/** Two to ten runs: one metric overlaid on a chart, params and metrics side by side. */
export function ComparePage({ project }: { project: string }) {
  const loc = useLocation();
  const ids = (loc.query.get("runs") ?? "").split(",").filter(Boolean);
  const state = useLoad(async () => {
    if (ids.length < 2 || ids.length > 10) throw new Error(`compare needs 2 to 10 runs; the link names ${ids.length}`);
    return Promise.all(
      ids.map((id) => must(api.GET("/api/v1/projects/{project}/runs/{run_id}", { params: { path: { project, run_id: id } } }))),
    );
  }, [project, ids.join(",")]);
  return (
    <main>
      <h1>Compare runs</h1>
      <Await state={state}>
        {(runs) => {
          const metricKeys = [...new Set(runs.flatMap((r) => r.latest_metrics.map((m) => m.key)))].sort();
          const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
          const metric = loc.query.get("metric") ?? metricKeys[0];
          const latest = runs.map((r) => Object.fromEntries(r.latest_metrics.map((m) => [m.key, m.value])));
          const differs = (values: (string | undefined)[]) => new Set(values).size > 1;
          return (
            <>
              <section>
                <header class="section-head">
                  <h2>Metric</h2>
                  <select
                    aria-label="Metric to chart"
                    value={metric}
                    onChange={(e) => navigate(withQuery(loc.path, loc.query, { metric: e.currentTarget.value }), true)}
                  >
                    {metricKeys.map((k) => (
                      <option key={k} value={k}>
                        {k}
                      </option>
                    ))}
                  </select>
                </header>
                {metric ? <Overlay project={project} runs={runs} metric={metric} /> : <p class="muted">no metrics</p>}
              </section>
              <div class="scroll">
                <table class="grid compare">
                  <thead>
                    <tr>
                      <th />
                      {runs.map((r, i) => (
                        <th key={r.run_id}>
                          <a href={`/ui/projects/${p(project)}/runs/${p(r.run_id)}`}>{labels(runs)[i]}</a>
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    <tr class="group">
                      <th colSpan={runs.length + 1}>Params (differences marked)</th>
                    </tr>
                    {paramKeys.map((k) => {
                      const values = runs.map((r) => r.params[k]);
                      return (
                        <tr key={`p${k}`} class={differs(values) ? "differs" : ""}>
                          <th>{k}</th>
                          {values.map((v, i) => (
                            <td key={i}>{v ?? <span class="muted">—</span>}</td>
                          ))}
                        </tr>
                      );
                    })}
                    <tr class="group">
                      <th colSpan={runs.length + 1}>Latest metrics (highest and lowest marked)</th>
                    </tr>
                    {metricKeys.map((k) => {
                      const values = latest.map((l) => l[k]);
                      const finite = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
                      const [lo, hi] = [Math.min(...finite), Math.max(...finite)];
                      return (
                        <tr key={`m${k}`} class={differs(values.map(String)) ? "differs" : ""}>
                          <th>
                            <a href={withQuery(loc.path, loc.query, { metric: k })}>{k}</a>
                          </th>
                          {values.map((v, i) => (
                            <td key={i} class={`num${finite.length > 1 && (v === hi || v === lo) ? (v === hi ? " high" : " low") : ""}`}>
                              {num(v)}
                            </td>
                          ))}
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            </>
          );
        }}
      </Await>
    </main>
  );
}

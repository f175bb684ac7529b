import { api, must, type Schemas } from "../api/client";
import { Await, Listing } from "../components/common";
import { num, when } from "../format";
import { useEvery, useLoad } from "../hooks";
import { useLocation } from "../router";

const p = encodeURIComponent;

type Deployment = Schemas["Deployment"];
type RoleStats = Schemas["RoleStats"];

/** Who answers what share of the requests: the champion, and a canary's or a shadow's part. */
function TrafficSplit({ d }: { d: Deployment }) {
  const challenger = d.challenger;
  if (!challenger) return <span>100% @{d.alias}</span>;
  if (challenger.mode === "canary") {
    const share = challenger.traffic_percent ?? 0;
    return (
      <span>
        {100 - share}% @{d.alias} · {share}% @{challenger.alias}
        <span class="split" aria-hidden="true">
          <span class="split-champion" style={{ width: `${100 - share}%` }} />
          <span class="split-challenger" style={{ width: `${share}%` }} />
        </span>
      </span>
    );
  }
  return (
    <span>
      100% @{d.alias} · @{challenger.alias} shadows every request
    </span>
  );
}

/** One role's live counts: predictions per second over the last minute, totals, errors. */
function Rate({ role, stats }: { role: string; stats: RoleStats | null | undefined }) {
  if (!stats) return null;
  return (
    <div class="rate" title={`${role} v${stats.version}: counted by this serving process since it loaded the deployment`}>
      <b>{num(Number(stats.per_second.toFixed(2)))}/s</b> <span class="muted">{role}</span>
      <div class="small muted">
        {stats.predictions_last_minute} in the last minute · {stats.predictions_total} in all
        {stats.errors_total ? (
          <span class="fail">
            {" "}
            · {stats.errors_total} failed ({stats.errors_last_minute} in the last minute)
          </span>
        ) : null}
      </div>
    </div>
  );
}

/** The project's deployments, their traffic split and live prediction rate (refreshed every 5 s). */
export function DeploymentsPage({ project }: { project: string }) {
  const token = useLocation().query.get("page_token");
  const state = useLoad(
    () =>
      must(
        api.GET("/api/v1/projects/{project}/deployments", {
          params: { path: { project }, query: { page_size: 50, page_token: token ?? undefined } },
        }),
      ),
    [project, token],
  );
  useEvery(5000, state.reload);
  return (
    <main>
      <h1>Deployments</h1>
      <Await state={state}>
        {(list) => (
          <Listing
            items={list.deployments}
            head={["Name", "Model", "Serving", "Traffic", "Predictions", "Monitor", "Sample rate", "Last error", "Updated"]}
            empty="No deployments."
            next={list.next_page_token}
            row={(d) => (
              <tr key={d.name}>
                <td>{d.name}</td>
                <td>
                  <a href={`/ui/projects/${p(project)}/models/${p(d.model)}`}>{d.model}</a>
                </td>
                <td>
                  {d.serving ? (
                    <>
                      @{d.alias} = v{d.serving.version} <span class="muted small">since {when(d.serving.loaded_time)}</span>
                    </>
                  ) : (
                    <span class="muted">nothing loaded</span>
                      )}
                      {d.challenger_serving && d.challenger ? (
                        <div>
                          @{d.challenger.alias} = v{d.challenger_serving.version}
                        </div>
                      ) : null}
                    </td>
                    <td>
                      <TrafficSplit d={d} />
                    </td>
                    <td>
                      {d.stats ? (
                        <>
                          <Rate role="champion" stats={d.stats.champion} />
                          <Rate role="challenger" stats={d.stats.challenger} />
                        </>
                      ) : (
                        <span class="muted">—</span>
                      )}
                    </td>
                    <td>{d.monitor ? <a href={`/ui/projects/${p(project)}/monitors/${p(d.monitor)}`}>{d.monitor}</a> : "—"}</td>
                    <td class="num">{num(d.sample_rate)}</td>
                    <td class="error">{d.last_error}</td>
                    <td>{when(d.update_time)}</td>
                  </tr>
            )}
          />
        )}
      </Await>
    </main>
  );
}

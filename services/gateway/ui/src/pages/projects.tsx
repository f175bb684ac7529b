import { api, must } from "../api/client";
import { Await, Pager } from "../components/common";
import { when } from "../format";
import { useLoad } from "../hooks";
import { useLocation } from "../router";

export function ProjectsPage() {
  const { query } = useLocation();
  const token = query.get("page_token");
  const state = useLoad(
    () => must(api.GET("/api/v1/projects", { params: { query: { page_size: 50, page_token: token ?? undefined } } })),
    [token],
  );
  return (
    <main>
      <h1>Projects</h1>
      <Await state={state}>
        {(list) => (
          <>
            <table class="grid">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Description</th>
                  <th>Labels</th>
                  <th>Created by</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                {list.projects.map((p) => (
                  <tr key={p.name}>
                    <td>
                      <a href={`/ui/projects/${encodeURIComponent(p.name)}/experiments`}>{p.name}</a>
                    </td>
                    <td>{p.description}</td>
                    <td>
                      {Object.entries(p.labels).map(([k, v]) => (
                        <span class="tag" key={k}>
                          {k}={v}
                        </span>
                      ))}
                    </td>
                    <td>{p.created_by}</td>
                    <td>{when(p.create_time)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {list.projects.length === 0 ? <p class="muted">No projects yet.</p> : null}
            <Pager next={list.next_page_token} />
          </>
        )}
      </Await>
    </main>
  );
}

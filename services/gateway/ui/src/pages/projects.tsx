import { useState } from "preact/hooks";
import { api, must } from "../api/client";
import { Await, Listing } from "../components/common";
import { Field, FormError, Opener, useSubmission } from "../components/forms";
import { when } from "../format";
import { useLoad } from "../hooks";
import { navigate, useLocation } from "../router";

/** Creates a project; the server's refusal shows beside the field it names. */
function NewProject({ close }: { close: () => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const submission = useSubmission();
  const submit = async (e: Event) => {
    e.preventDefault();
    const created = await submission.run(() => must(api.POST("/api/v1/projects", { body: { name, description } })));
    if (created) {
      close();
      navigate(`/ui/projects/${encodeURIComponent(name)}/experiments`);
    }
  };
  return (
    <form class="stacked" onSubmit={submit} aria-label="new project">
      <Field label="Name" name="name" error={submission.error}>
        <input name="name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Field label="Description" name="description" error={submission.error}>
        <input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </Field>
      <button type="submit" disabled={submission.busy}>
        Create project
      </button>
      <FormError error={submission.error} fields={["name", "description"]} />
    </form>
  );
}

export function ProjectsPage() {
  const { query } = useLocation();
  const token = query.get("page_token");
  const state = useLoad(
    () => must(api.GET("/api/v1/projects", { params: { query: { page_size: 50, page_token: token ?? undefined } } })),
    [token],
  );
  return (
    <main>
      <header class="page-head">
        <h1>Projects</h1>
        <Opener label="New project">{(close) => <NewProject close={close} />}</Opener>
      </header>
      <Await state={state}>
        {(list) => (
          <Listing
            items={list.projects}
            head={["Name", "Description", "Labels", "Created by", "Created"]}
            empty="No projects yet." next={list.next_page_token}
            row={(p) => (
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
            )}
          />
        )}
      </Await>
    </main>
  );
}

import { useEffect, useState } from "preact/hooks";
import { api, ApiError, must, onSignedOut, type Schemas } from "./api/client";
import { ErrorText } from "./components/common";
import { match, navigate, useLocation } from "./router";
import { ProjectsPage } from "./pages/projects";
import { ExperimentsPage, RunsPage } from "./pages/experiments";
import { RunPage } from "./pages/run";
import { ComparePage } from "./pages/compare";
import { ModelPage, ModelsPage } from "./pages/models";
import { DeploymentsPage } from "./pages/deployments";
import { FeaturesPage } from "./pages/features";
import { PipelinePage, PipelineRunPage, PipelinesPage } from "./pages/pipelines";
import { MonitorPage, MonitorsPage } from "./pages/monitors";
import { SignInPage } from "./pages/sign-in";

type Session = { state: "checking" } | { state: "out"; error?: string } | { state: "in"; who: Schemas["WhoAmI"] };

/** The pages, in the order they are tried; a pattern's `:names` become the page's props. */
const ROUTES: [string, (p: Record<string, string>) => preact.JSX.Element][] = [
  ["/ui/projects", () => <ProjectsPage />],
  ["/ui/projects/:project", (p) => <ExperimentsPage project={p.project} />],
  ["/ui/projects/:project/experiments", (p) => <ExperimentsPage project={p.project} />],
  ["/ui/projects/:project/experiments/:experiment", (p) => <RunsPage project={p.project} experiment={p.experiment} />],
  ["/ui/projects/:project/runs/:run", (p) => <RunPage project={p.project} run={p.run} />],
  ["/ui/projects/:project/compare", (p) => <ComparePage project={p.project} />],
  ["/ui/projects/:project/models", (p) => <ModelsPage project={p.project} />],
  ["/ui/projects/:project/models/:model", (p) => <ModelPage project={p.project} model={p.model} />],
  ["/ui/projects/:project/deployments", (p) => <DeploymentsPage project={p.project} />],
  ["/ui/projects/:project/features", (p) => <FeaturesPage project={p.project} />],
  ["/ui/projects/:project/pipelines", (p) => <PipelinesPage project={p.project} />],
  ["/ui/projects/:project/pipelines/:name", (p) => <PipelinePage project={p.project} name={p.name} />],
  ["/ui/projects/:project/pipeline-runs/:run", (p) => <PipelineRunPage project={p.project} run={p.run} />],
  ["/ui/projects/:project/monitors", (p) => <MonitorsPage project={p.project} />],
  ["/ui/projects/:project/monitors/:monitor", (p) => <MonitorPage project={p.project} monitor={p.monitor} />],
];

const SECTIONS: [string, string][] = [
  ["experiments", "Experiments"],
  ["models", "Models"],
  ["deployments", "Deployments"],
  ["features", "Features"],
  ["pipelines", "Pipelines"],
  ["monitors", "Monitors"],
];

function Page({ path }: { path: string }) {
  if (path === "/" || path === "/ui" || path === "/ui/") {
    navigate("/ui/projects", true);
    return null;
  }
  for (const [pattern, page] of ROUTES) {
    const params = match(pattern, path);
    if (params) return page(params);
  }
  return (
    <main>
      <h1>Not found</h1>
      <p>
        No page at <code>{path}</code>. <a href="/ui/projects">Projects</a>
      </p>
    </main>
  );
}

export function App() {
  const loc = useLocation();
  const [session, setSession] = useState<Session>({ state: "checking" });
  const [signOutError, setSignOutError] = useState<ApiError>();

  const check = () =>
    must(api.GET("/api/v1/whoami")).then(
      (who) => setSession({ state: "in", who }),
      (e: ApiError) => setSession(e.status === 401 ? { state: "out" } : { state: "out", error: e.message }),
    );
  useEffect(() => {
    void check();
    return onSignedOut(() => setSession({ state: "out", error: "Your session has ended; sign in again." }));
  }, []);

  if (session.state === "checking") return <p class="muted boot">Loading…</p>;
  if (session.state === "out") {
    // A used or expired one-time link lands here (the server sends browsers to this URL).
    const linkInvalid = loc.query.get("sign_in") === "link_invalid";
    const notice =
      session.error ??
      (linkInvalid
        ? "This sign-in link was used already or has expired: sign in with a token, or restart lathe standalone for a new link."
        : undefined);
    return <SignInPage notice={notice} onSignedIn={() => void check()} />;
  }

  const signOut = async () => {
    try {
      await must(api.DELETE("/api/v1/session"));
      setSession({ state: "out" });
    } catch (e) {
      setSignOutError(e as ApiError);
    }
  };
  const project = match("/ui/projects/:project", loc.path.split("/").slice(0, 4).join("/"))?.project;
  const section = loc.path.split("/")[4] ?? "experiments";
  return (
    <>
      <header class="topbar">
        <a class="brand" href="/ui/projects">
          Lathe
        </a>
        {project ? (
          <>
            <a class="crumb" href={`/ui/projects/${encodeURIComponent(project)}`}>
              {project}
            </a>
            <nav class="sections">
              {SECTIONS.map(([key, label]) => (
                <a
                  key={key}
                  href={`/ui/projects/${encodeURIComponent(project)}/${key}`}
                  class={
                    section === key ||
                    (key === "experiments" && ["runs", "compare"].includes(section)) ||
                    (key === "pipelines" && section === "pipeline-runs")
                      ? "active"
                      : ""
                  }
                >
                  {label}
                </a>
              ))}
            </nav>
          </>
        ) : null}
        <span class="spacer" />
        <span class="who" title={`roles: ${session.who.roles.join(", ")}; projects: ${session.who.projects.join(", ")}`}>
          {session.who.subject} · {session.who.role ?? "no role"}
        </span>
        <button type="button" class="link" onClick={() => void signOut()}>
          Sign out
        </button>
        <ErrorText error={signOutError} />
      </header>
      <Page path={loc.path} />
    </>
  );
}

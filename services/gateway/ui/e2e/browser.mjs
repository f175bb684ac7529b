// Browser tests of Lathe's web UI: headless Chromium (Debian's, never a downloaded one) driven
// by playwright-core against a running `lathe quickstart`, whose seeded data the pages must show.
//
//   node e2e/browser.mjs --url URL --token ADMIN_TOKEN --facts FACTS.json [--screenshots DIR]
//
// FACTS.json is what the caller (services/lathe/tests/browser.rs) knows about the data it
// seeded: run ids, model versions, the pipeline run it triggered, a drifted monitor window and,
// optionally, a one-time sign-in link. The scenarios run in order and stop at the first failure,
// which prints what was expected, what the page showed and a screenshot of it; the exit code is
// non-zero then. With --screenshots, the main pages are saved as DIR/<page>.png.
//
// LATHE_CHROMIUM names another Chromium binary (default /usr/bin/chromium).

import { mkdtempSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    token: { type: "string" },
    facts: { type: "string" },
    screenshots: { type: "string" },
  },
});
for (const required of ["url", "token", "facts"]) {
  if (!args[required]) {
    console.error(`usage: node e2e/browser.mjs --url URL --token TOKEN --facts FILE [--screenshots DIR]; --${required} is missing`);
    process.exit(2);
  }
}
const base = args.url.replace(/\/+$/, "");
const facts = JSON.parse(readFileSync(args.facts, "utf8"));
const project = facts.project;
const p = encodeURIComponent;
const ui = (path) => `${base}/ui/projects/${p(project)}${path}`;

/** How long a page may take to show what is expected (the pages load from a local server). */
const WAIT_MS = 15_000;
/** How long a pipeline run may take to finish once triggered. */
const PIPELINE_MS = 120_000;

/** A scenario's failure: what was expected and what the page showed instead. */
class Unmet extends Error {}

/** The visible text of the page (or a part of it), shortened for a failure message. */
async function shown(page, selector = "body") {
  try {
    const text = await page.locator(selector).first().innerText({ timeout: 2_000 });
    const squeezed = text.replace(/[ \t]+/g, " ").replace(/\n{2,}/g, "\n").trim();
    return squeezed.length > 3_000 ? `${squeezed.slice(0, 3_000)}…` : squeezed;
  } catch (error) {
    return `(could not read the page: ${error.message.split("\n")[0]})`;
  }
}

/** Polls `check` until it returns true; fails with `expected` and the page's text otherwise. */
async function until(page, expected, check, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError ? `\n  (last check failed: ${lastError.message.split("\n")[0]})` : "";
      throw new Unmet(`expected ${expected} within ${timeout / 1000} s at ${page.url()}${why}\n  the page showed:\n${indent(await shown(page))}`);
    }
    await page.waitForTimeout(200);
  }
}

function indent(text) {
  return text
    .split("\n")
    .map((line) => `    | ${line}`)
    .join("\n");
}

/** Waits until the element `selector` (first match) contains every one of `texts`. */
async function expectText(page, selector, texts, what = selector) {
  const wanted = Array.isArray(texts) ? texts : [texts];
  await until(page, `${what} to show ${wanted.map((t) => JSON.stringify(t)).join(", ")}`, async () => {
    const locator = page.locator(selector).first();
    if ((await locator.count()) === 0) return false;
    const text = await locator.innerText({ timeout: 1_000 });
    return wanted.every((t) => text.includes(t));
  });
}

/** Waits until `selector` matches at least `count` elements. */
async function expectCount(page, selector, count, what = selector) {
  await until(page, `at least ${count} of ${what}`, async () => (await page.locator(selector).count()) >= count);
}

/**
 * Waits until the page's task graph has a node per task of `run`, an edge per dependency, and
 * every node in `state` ("declared" for a pipeline's graph, which has no states).
 */
async function expectGraph(page, run, state, timeout = WAIT_MS) {
  const graph = "main svg.dag";
  await until(page, `a graph of ${run.tasks.length} tasks and ${run.edges.length} edges`, async () => {
    const nodes = await page.locator(`${graph} g.dag-node`).evaluateAll((els) => els.map((e) => e.getAttribute("data-task")));
    const edges = await page
      .locator(`${graph} path.dag-edge`)
      .evaluateAll((els) => els.map((e) => `${e.getAttribute("data-from")}->${e.getAttribute("data-to")}`));
    return (
      nodes.length === run.tasks.length &&
      run.tasks.every((t) => nodes.includes(t)) &&
      edges.length === run.edges.length &&
      run.edges.every(([from, to]) => edges.includes(`${from}->${to}`))
    );
  });
  await until(
    page,
    `every node of the graph to show ${state}`,
    async () => {
      const states = await page.locator(`${graph} g.dag-node`).evaluateAll((els) => els.map((e) => e.getAttribute("data-state")));
      return states.length === run.tasks.length && states.every((s) => s === state);
    },
    timeout,
  );
  if (state !== "declared") {
    // What a reader sees: the state is written in each node, not only its colour.
    for (const task of run.tasks) {
      const node = page.locator(`${graph} g.dag-node[data-task="${task}"]`);
      await until(page, `the node of ${task} to read ${state}`, async () => ((await node.textContent()) ?? "").includes(state));
    }
  }
}

/** Opens version `version` on a model's page; returns the selectors of its row and detail. */
async function openVersion(page, version) {
  const versions = 'main section:has(h2:text-is("Versions"))';
  const row = `${versions} tbody tr:has(> td > a:text-is("v${version}"))`;
  if ((await page.locator(`${row} + tr.detail`).count()) === 0) {
    await page.locator(`${row} a:text-is("v${version}")`).click();
  }
  const detail = `${row} + tr.detail`;
  await expectText(page, detail, `Move v${version} to a stage`, `the detail of v${version}`);
  return { row, detail };
}

async function screenshot(page, name) {
  if (!args.screenshots) return;
  mkdirSync(args.screenshots, { recursive: true });
  const path = join(args.screenshots, `${name}.png`);
  await page.screenshot({ path });
  console.log(`    screenshot ${path}`);
}

/** Opens a UI page and waits for its heading (every page has one once loaded). */
async function open(page, path, heading) {
  await page.goto(path.startsWith("http") ? path : ui(path));
  await expectText(page, "main h1", heading, "the page's heading");
  await until(page, "the page to finish loading (no “Loading…” left)", async () => (await page.getByText("Loading…").count()) === 0);
  await until(page, "no error on the page", async () => (await page.locator("main .error-block").count()) === 0);
}

// ---------------------------------------------------------------------------------------------

const seeded = facts.runs; // [{run_id, name}], the two runs of the experiment the quickstart made

const scenarios = [
  [
    "a one-time sign-in link signs a fresh browser in and opens where it points, once",
    async ({ browser }) => {
      if (!facts.sign_in_link) {
        console.log("    (no sign-in link given: skipped)");
        return;
      }
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        const page = await context.newPage();
        current = page;
        await page.goto(facts.sign_in_link);
        await expectText(page, "body", facts.sign_in_shows, "the page the link leads to");
        await page.goto(`${base}/ui/projects`);
        await expectText(page, "main", project, "the projects page of the signed-in browser");
      } finally {
        await context.close();
      }
      // Used again, in a browser without a session: the UI's sign-in page says why.
      const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        const again = await fresh.newPage();
        current = again;
        await again.goto(facts.sign_in_link);
        await expectText(again, "main", "Sign in to Lathe", "the sign-in page after a reused link");
        await expectText(again, "main", "used already", "the answer to a reused link");
        const cookies = await fresh.cookies();
        if (cookies.some((c) => c.name === "lathe_session")) {
          throw new Unmet("a reused link must not sign the browser in");
        }
      } finally {
        await fresh.close();
      }
    },
  ],
  [
    "signing in with a pasted token",
    async ({ page }) => {
      await page.goto(`${base}/ui/projects`);
      await expectText(page, "main", "Sign in to Lathe", "the sign-in page");
      await page.locator("#token").fill("not-a-token");
      await page.getByRole("button", { name: "Sign in" }).click();
      await expectCount(page, "main [role=alert]", 1, "an error for a bad token");
      await page.locator("#token").fill(args.token);
      await page.getByRole("button", { name: "Sign in" }).click();
      await expectText(page, "header.topbar", `${facts.subject} · admin`, "the top bar");
      await expectText(page, "main", ["Projects", project], "the projects page");
    },
  ],
  [
    "the pipeline run triggered just before is followed to success on its page",
    async ({ page }) => {
      const run = facts.pipeline_run;
      await page.goto(ui(`/pipeline-runs/${p(run.run_id)}`));
      await expectText(page, "main h1", [run.pipeline, run.run_id], "the run's heading");
      const first = await page.locator("main h1 .badge").innerText();
      // No reload from here on: the page must refresh itself while the run is active.
      await until(
        page,
        `the run's state to become success (it was ${first} when the page opened)`,
        async () => (await page.locator("main h1 .badge").innerText()) === "success",
        PIPELINE_MS,
      );
      for (const task of run.tasks) {
        await expectText(page, `main tbody tr:has(a:text-is("${task}"))`, "success", `task ${task}'s row`);
      }
      await expectGraph(page, run, "success");
      console.log(`    the page showed ${first} first`);
      const log = run.tasks[0];
      // A node of the graph selects its task, as the table's link does.
      await page.locator(`main svg.dag g.dag-node[data-task="${log}"]`).click();
      await until(page, `the URL to select task ${log}`, async () => new URL(page.url()).searchParams.get("task") === log);
      await expectCount(page, `main svg.dag g.dag-node.selected[data-task="${log}"]`, 1, `the node of ${log} outlined`);
      await expectText(page, "main", `Log of ${log}`, "the task's log section");
      await until(page, `the log of ${log} to be read to its end`, async () => (await page.getByText("following the log…").count()) === 0);
      await screenshot(page, "pipeline-run");
    },
  ],
  [
    "retrain-churn triggered from its page with its params is followed on its graph to success",
    async ({ page }) => {
      const run = facts.pipeline_run;
      await open(page, `/pipelines/${p(run.pipeline)}`, run.pipeline);
      // The pipeline's own page draws the graph as declared, without states.
      await expectGraph(page, run, "declared");
      await until(page, "the labels field to hold its default", async () => (await page.locator("main form.trigger #param-labels").inputValue()) === "churn/labels.parquet");
      // retrain-churn declares one string parameter, and a string takes any text: there is no
      // value of the wrong type to be refused, so the refusal is not exercised here.
      await page.locator("main form.trigger #param-labels").fill("churn/labels.parquet");
      await page.locator("main form.trigger button", { hasText: "Trigger" }).click();
      await until(page, "the page of a new run", async () => {
        const at = new URL(page.url()).pathname;
        return at.includes("/pipeline-runs/") && !at.endsWith(`/${run.run_id}`);
      });
      await expectCount(page, "main form.trigger [role=alert]", 0, "no error from the trigger");
      await expectText(page, "main h1", run.pipeline, "the new run's heading");
      await expectText(page, "main .run-params", ["labels", "churn/labels.parquet"], "the run's params");
      const first = await page.locator("main svg.dag").getAttribute("aria-label");
      const states = async () =>
        page.locator("main svg.dag g.dag-node").evaluateAll((nodes) => nodes.map((n) => n.getAttribute("data-state")).join(" "));
      const seen = await states();
      // No reload: the page refreshes itself while the run is active.
      await expectGraph(page, run, "success", PIPELINE_MS);
      await until(page, "the run's state to become success", async () => (await page.locator("main h1 .badge").innerText()) === "success");
      console.log(`    the new run's graph (${first}) showed ${seen} first`);
    },
  ],
  [
    "projects and experiments list the seeded project and experiment",
    async ({ page }) => {
      await open(page, `${base}/ui/projects`, "Projects");
      await page.locator(`main a:text-is("${project}")`).click();
      await expectText(page, "main h1", "Experiments");
      await expectText(page, "main table", [facts.experiment.name, facts.experiment.experiment_id], "the experiments table");
    },
  ],
  [
    "the runs table shows the seeded runs with their params and metrics",
    async ({ page }) => {
      await page.locator(`main a:text-is("${facts.experiment.name}")`).click();
      await expectText(page, "main h1", facts.experiment.name);
      for (const run of seeded) {
        const row = `main table.runs tbody tr:has(a[href$="/runs/${run.run_id}"])`;
        await expectText(page, row, [run.name, "FINISHED", ...Object.values(run.shown)], `the row of run ${run.run_id}`);
      }
      await expectText(page, "main table.runs thead", Object.keys(seeded[0].shown), "the table's columns");
      await screenshot(page, "runs");
    },
  ],
  [
    "two runs selected open compare with both runs' params side by side",
    async ({ page }) => {
      const compare = page.locator("a.button", { hasText: "Compare" });
      for (const run of seeded) {
        await page.locator(`main table.runs tbody tr:has(a[href$="/runs/${run.run_id}"]) input[type=checkbox]`).check();
      }
      await expectText(page, "a.button", "Compare 2 runs", "the compare button");
      await compare.click();
      await expectText(page, "main h1", "Compare runs");
      for (const run of seeded) {
        await expectCount(page, `main table.compare thead a[href$="/runs/${run.run_id}"]`, 1, `a column for run ${run.run_id}`);
      }
      for (const [key, value] of Object.entries(facts.compare_params)) {
        await until(page, `the params row ${key} to show ${value} for both runs`, async () => {
          const cells = await page.locator(`main table.compare tbody tr:has(th:text-is("${key}")) td`).allInnerTexts();
          return cells.length === 2 && cells.every((c) => c.trim() === value);
        });
      }
      await page.locator('select[aria-label="Metric to chart"]').selectOption(facts.chart.metric);
      await until(page, `the URL to name the charted metric ${facts.chart.metric}`, async () => page.url().includes(`metric=${facts.chart.metric}`));
      await expectCount(page, `main svg[aria-label$="by step"] polyline`, 2, `two ${facts.chart.metric} series on the chart`);
      await expectCount(page, `main svg[aria-label$="by step"] circle`, 2 * facts.chart.points, `the points of both ${facts.chart.metric} series`);
      // The quickstart's runs share a name: the legend and the columns tell them apart by id.
      const labels = seeded.map((run) => `${run.name} (${run.run_id.slice(0, 8)})`);
      await expectText(page, "main .legend", labels, "the chart's legend");
      await expectText(page, "main table.compare thead", labels, "the compare table's columns");
      await screenshot(page, "compare");
    },
  ],
  [
    "a run page shows its params, metrics and a metric's history as a chart",
    async ({ page }) => {
      const run = seeded[0];
      await open(page, `/runs/${p(run.run_id)}`, run.name);
      await expectText(page, "main", [run.run_id, ...Object.values(run.shown)], "the run page");
      const chart = `main .chart-card:has(h3:text-is("${facts.chart.metric}")) svg circle`;
      await expectCount(page, chart, facts.chart.points, `the points of the ${facts.chart.metric} chart`);
      await expectText(page, "main .chart-card", "one value", "a metric logged once");
      await page.locator(`main .chart-card:has(h3:text-is("${facts.chart.metric}"))`).scrollIntoViewIfNeeded();
      await screenshot(page, "run");
    },
  ],
  [
    "models list the seeded model with its stages and alias",
    async ({ page }) => {
      await open(page, "/models", "Models");
      for (const model of [facts.passing.model, facts.refused.model]) {
        await expectCount(page, `main a:text-is("${model}")`, 1, `a link to model ${model}`);
      }
      await expectText(page, `main tbody tr:has(a:text-is("${facts.passing.model}"))`, [`@${facts.alias}`, facts.passing.from], "the churn model's row");
    },
  ],
  [
    "a promotion the gate refuses: the dry run says why, the move shows the server's reason and leaves the stage",
    async ({ page }) => {
      const { model, version, to, reason } = facts.refused;
      await open(page, `/models/${p(model)}`, model);
      await expectText(page, "main", `${to}: ${facts.refused.gate}`, "the promotion gates");
      const { row, detail } = await openVersion(page, version);
      await expectText(page, `${row} > td:nth-child(2)`, facts.refused.from, `the stage of v${version}`);
      // Before anything is tried, the version's gates say what a move would meet.
      await expectText(page, `${detail} ul.gates`, [to, "would be refused", facts.refused.dry_run], "the gates' dry run");
      await page.locator(`${detail} select[aria-label=stage]`).selectOption(to);
      await page.locator(`${detail} input[aria-label=reason]`).fill("browser test: should be refused");
      await page.locator(`${detail} button`, { hasText: "Move" }).click();
      await expectText(page, `${detail} form [role=alert]`, reason, "the error next to the Move button");
      await page.reload();
      await expectText(page, `${row} > td:nth-child(2)`, facts.refused.from, `the stage of v${version} after the refusal`);
      const stage = await page.locator(`${row} > td:nth-child(2)`).innerText();
      if (stage.trim() !== facts.refused.from) throw new Unmet(`expected v${version} to stay ${facts.refused.from}, it shows ${stage}`);
    },
  ],
  [
    "a promotion the gate lets through: the dry run agrees, and the stage shown changes",
    async ({ page }) => {
      const { model, version, from, to } = facts.passing;
      await open(page, `/models/${p(model)}`, model);
      await expectText(page, "main", [`@${facts.alias}`, `${to}: ${facts.passing.gate}`], "the aliases and gates");
      const { row, detail } = await openVersion(page, version);
      await expectText(page, `${row} > td:nth-child(2)`, from, `the stage of v${version}`);
      await expectText(page, `${detail} ul.gates li:has-text("${to}")`, ["would pass", facts.passing.dry_run], "the gates' dry run");
      await page.locator(`${detail} select[aria-label=stage]`).selectOption(to);
      await page.locator(`${detail} input[aria-label=reason]`).fill("browser test: the gate passes");
      await page.locator(`${detail} button`, { hasText: "Move" }).click();
      await until(page, `v${version}'s stage to show ${to}`, async () => (await page.locator(`${row} > td:nth-child(2)`).innerText()).trim() === to);
      await expectCount(page, `${detail} form [role=alert]`, 0, "no error");
      await expectText(page, "main section:has(h2:text-is('Audit log')) tbody", "browser test: the gate passes", "the audit log");
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot(page, "model");
    },
  ],
  [
    "forms refuse bad input beside the field, create nothing, and create what is good",
    async ({ page }) => {
      // A project: a name the server refuses, then one it takes.
      await open(page, `${base}/ui/projects`, "Projects");
      await page.getByRole("button", { name: "New project" }).click();
      const projectForm = "main form[aria-label='new project']";
      await page.locator(`${projectForm} input[name=name]`).fill(facts.forms.bad_project);
      await page.locator(`${projectForm} button[type=submit]`).click();
      await expectText(page, `${projectForm} label.field.invalid:has(input[name=name]) [role=alert]`, "invalid", "the refusal beside the name");
      await open(page, `${base}/ui/projects`, "Projects");
      await expectCount(page, `main a:text-is("${facts.forms.bad_project}")`, 0, "no project from the refused form");
      if ((await page.locator(`main a:text-is("${facts.forms.bad_project}")`).count()) !== 0) throw new Unmet("the refused project was created");
      await page.getByRole("button", { name: "New project" }).click();
      await page.locator(`${projectForm} input[name=name]`).fill(facts.forms.project);
      await page.locator(`${projectForm} button[type=submit]`).click();
      await until(page, "the new project's page", async () => new URL(page.url()).pathname === `/ui/projects/${facts.forms.project}/experiments`);
      await expectText(page, "main h1", "Experiments");

      // An experiment in it: a name with '/' is refused beside the field, a good one opens.
      await page.getByRole("button", { name: "New experiment" }).click();
      const experimentForm = "main form[aria-label='new experiment']";
      await page.locator(`${experimentForm} input[name=name]`).fill(facts.forms.bad_experiment);
      await page.locator(`${experimentForm} button[type=submit]`).click();
      await expectText(page, `${experimentForm} label.field.invalid:has(input[name=name]) [role=alert]`, "invalid", "the refusal beside the name");
      await page.locator(`${experimentForm} input[name=name]`).fill(facts.forms.experiment);
      await page.locator(`${experimentForm} button[type=submit]`).click();
      await expectText(page, "main h1", facts.forms.experiment, "the new experiment's runs page");

      // A model with a gate whose metric is missing: the refusal names the gate's metric, and
      // neither the model nor its gate exists afterwards.
      await open(page, "/models", "Models");
      await page.getByRole("button", { name: "New model" }).click();
      const modelForm = "main form[aria-label='new model']";
      await page.locator(`${modelForm} input[name=name]`).fill(facts.forms.model);
      await page.locator(`${modelForm} input[type=checkbox]`).check();
      await page.locator(`${modelForm} input[name=metric]`).fill("");
      await page.locator(`${modelForm} button[type=submit]`).click();
      await expectText(page, `${modelForm} label.field.invalid:has(input[name=metric]) [role=alert]`, "metric", "the refusal beside the gate's metric");
      await screenshot(page, "new-model-refused");
      await open(page, "/models", "Models");
      if ((await page.locator(`main a:text-is("${facts.forms.model}")`).count()) !== 0) throw new Unmet("the refused model was created");
    },
  ],
  [
    "a run's artifacts preview as JSON, a CSV table and an image",
    async ({ page }) => {
      const run = seeded[0];
      await open(page, `/runs/${p(run.run_id)}`, run.name);
      const artifacts = "main section:has(h2:text-is('Artifacts'))";
      await page.locator(`${artifacts} a:text-is("metrics.json")`).click();
      await expectText(page, `${artifacts} .preview pre`, facts.artifacts.json_shows, "the JSON preview");
      await page.locator(`${artifacts} a:text-is("${facts.artifacts.dir}/")`).click();
      const dir = `main section:has(h2:text-is('Artifacts: ${facts.artifacts.dir}'))`;
      await page.locator(`${dir} a:text-is("${facts.artifacts.csv}")`).click();
      await expectText(page, `${dir} .preview thead`, facts.artifacts.csv_header, "the CSV preview's header");
      await expectText(page, `${dir} .preview tbody`, facts.artifacts.csv_cells, "the CSV preview's cells");
      await page.locator(`${dir} a:text-is("${facts.artifacts.image}")`).click();
      await until(page, "the image preview to load", async () =>
        page.locator(`${dir} .preview img`).evaluate((img) => img.complete && img.naturalWidth > 0),
      );
      await screenshot(page, "artifact-preview");
    },
  ],
  [
    "a feature view shows its history, freshness and the models trained on it",
    async ({ page }) => {
      const view = facts.view;
      await open(page, `/features?name=${p(`feature_view/${view.name}`)}`, "Features");
      const detail = "main tr.detail";
      await expectText(page, `${detail} section:has(h2:text-is("Materialization"))`, ["last interval", "behind"], "the view's materialization");
      await expectText(page, `${detail} section:has(h2:text-is("Used by models"))`, [view.model, ...view.versions.map((v) => `v${v}`)], "the models trained on the view");
      await expectCount(page, `${detail} table.history tbody tr`, view.history, "a row per applied version");
      await expectText(page, `${detail} table.history`, "declared", "the history's first version");
      await expectText(page, `main tbody tr:has(a:text-is("${view.name}"))`, "behind", "the view's freshness in the list");
      await screenshot(page, "features");
    },
  ],
  [
    "deployments, features and pipelines show what the quickstart made",
    async ({ page }) => {
      await open(page, "/deployments", "Deployments");
      const deployment = `main tbody tr:has(td:text-is("${facts.deployment.name}"))`;
      await expectText(page, deployment, [`@${facts.alias}`, facts.monitor.name, "100%", "/s"], "the deployment's row");
      await expectText(page, deployment, `${facts.deployment.predictions} in all`, "the deployment's prediction count");
      await screenshot(page, "deployments");
      await open(page, "/features", "Features");
      await expectText(page, "main table", facts.features, "the feature definitions");
      await open(page, "/pipelines", "Pipelines");
      await expectText(page, `main tbody tr:has(a:text-is("${facts.pipeline_run.pipeline}"))`, facts.pipeline_run.tasks.join(" → "), "the pipeline's tasks");
      await expectCount(page, `main a[href$="/pipeline-runs/${facts.pipeline_run.run_id}"]`, 1, "a link to the triggered run");
    },
  ],
  [
    "monitors and a monitor's window with its drift report",
    async ({ page, context }) => {
      const monitor = facts.monitor;
      await open(page, "/monitors", "Monitors");
      await expectText(page, `main tbody tr:has(a:text-is("${monitor.name}"))`, [...monitor.drifted, ...monitor.steady], "the monitor's row");
      await page.locator(`main a:text-is("${monitor.name}")`).click();
      await expectText(page, "main h1", `Monitor ${monitor.name}`);
      await expectText(page, "main section:has(h2:text-is('Alerts')) tbody", monitor.drifted, "the alerts");
      await expectCount(page, 'main svg[role=img] polyline', monitor.drifted.length + monitor.steady.length, "a drift line per column");
      const href = `/api/v1/projects/${p(project)}/monitors/${p(monitor.name)}/windows/${p(monitor.window_start)}/report.html`;
      const row = `main tbody tr:has(a[href="${href}"])`;
      await expectText(page, row, ["drifted", ...monitor.drifted.map((c) => `${c}:`)], "the drifted window's row");
      await screenshot(page, "monitor");
      const [report] = await Promise.all([context.waitForEvent("page"), page.locator(`${row} a[href="${href}"]`).click()]);
      current = report;
      await report.waitForLoadState();
      await expectText(report, "h1", `Drift report: ${project} / ${monitor.name}`, "the report's heading");
      for (const column of monitor.drifted) {
        await expectText(report, `tr:has(td:text-is("${column}")) td span`, "drift", `the verdict of ${column}`);
      }
      for (const column of monitor.steady) {
        await expectText(report, `tr:has(td:text-is("${column}")) td span`, "no drift", `the verdict of ${column}`);
      }
      await report.close();
      current = page;
    },
  ],
  [
    "signing out returns to the sign-in page, and stays there",
    async ({ page }) => {
      await open(page, "/models", "Models");
      await page.getByRole("button", { name: "Sign out" }).click();
      await expectText(page, "main", "Sign in to Lathe", "the sign-in page");
      await page.reload();
      await expectText(page, "main", "Sign in to Lathe", "the sign-in page after a reload");
      const cookies = await page.context().cookies();
      if (cookies.some((c) => c.name === "lathe_session" && c.value !== "")) {
        throw new Unmet("expected the session cookie to be gone after signing out");
      }
    },
  ],
];

// ---------------------------------------------------------------------------------------------

let current;
const browser = await chromium.launch({
  executablePath: process.env.LATHE_CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
context.setDefaultTimeout(WAIT_MS);
const page = await context.newPage();
const consoleErrors = [];
page.on("console", (message) => {
  if (message.type() === "error") consoleErrors.push(message.text());
});
page.on("pageerror", (error) => consoleErrors.push(`uncaught: ${error.message}`));

let failed = false;
const started = Date.now();
for (const [name, scenario] of scenarios) {
  current = page;
  const t0 = Date.now();
  try {
    await scenario({ browser, context, page });
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failed = true;
    const dir = mkdtempSync(join(tmpdir(), "lathe-ui-e2e-"));
    const shot = join(dir, "failure.png");
    let saved = "";
    try {
      await current.screenshot({ path: shot, fullPage: true });
      saved = `\n  screenshot of the failing page: ${shot}`;
    } catch (shotError) {
      saved = `\n  (no screenshot: ${shotError.message.split("\n")[0]})`;
    }
    const message = error instanceof Unmet ? error.message : `${error.stack ?? error}\n  the page showed:\n${indent(await shown(current))}`;
    console.log(`FAIL ${name}\n  ${message}${saved}`);
    if (consoleErrors.length) console.log(`  the browser's console errors:\n${indent(consoleErrors.join("\n"))}`);
    break;
  }
}
await browser.close();
console.log(`${failed ? "FAILED" : "passed"}: browser tests took ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);

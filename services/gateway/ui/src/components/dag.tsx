// A pipeline's tasks drawn as a graph: hand-written SVG, no layout library. Tasks sit in layers
// by the longest path from a root (so every edge points right), ordered inside a layer by the
// mean position of their upstream tasks to keep edges from crossing where that is cheap.

/** One node: a task id, what it waits for, and (on a run's page) its state. */
export interface DagTask {
  id: string;
  dependsOn: string[];
  state?: string;
}

const NODE_W = 136;
const NODE_H = 34;
const GAP_X = 40;
const GAP_Y = 14;
const PAD = 4;

interface Placed {
  task: DagTask;
  x: number;
  y: number;
}

/** Where each task goes: column by longest path from the roots, row by upstream barycenter. */
export function layout(tasks: DagTask[]): { placed: Map<string, Placed>; width: number; height: number } {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const layer = new Map<string, number>();
  const visiting = new Set<string>();
  const depth = (id: string): number => {
    const known = layer.get(id);
    if (known !== undefined) return known;
    // A cycle cannot be applied, but a drawing must not loop forever if one ever arrives.
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const ups = (byId.get(id)?.dependsOn ?? []).filter((u) => byId.has(u));
    const d = ups.length === 0 ? 0 : 1 + Math.max(...ups.map(depth));
    visiting.delete(id);
    layer.set(id, d);
    return d;
  };
  const layers: DagTask[][] = [];
  for (const t of tasks) (layers[depth(t.id)] ??= []).push(t);
  const row = new Map<string, number>();
  layers.forEach((column, i) => {
    if (i > 0) {
      const centre = (t: DagTask) => {
        const ups = t.dependsOn.map((u) => row.get(u)).filter((r): r is number => r !== undefined);
        return ups.length ? ups.reduce((a, b) => a + b, 0) / ups.length : 0;
      };
      // A stable sort keeps declaration order among tasks with the same centre.
      column.sort((a, b) => centre(a) - centre(b));
    }
    column.forEach((t, r) => row.set(t.id, r));
  });
  const tallest = Math.max(1, ...layers.map((c) => c?.length ?? 0));
  const height = tallest * NODE_H + (tallest - 1) * GAP_Y + 2 * PAD;
  const placed = new Map<string, Placed>();
  layers.forEach((column, i) => {
    // Centre a short column against the tallest one.
    const offset = ((tallest - column.length) * (NODE_H + GAP_Y)) / 2;
    column.forEach((task, r) =>
      placed.set(task.id, { task, x: PAD + i * (NODE_W + GAP_X), y: PAD + offset + r * (NODE_H + GAP_Y) }),
    );
  });
  const width = layers.length * NODE_W + Math.max(0, layers.length - 1) * GAP_X + 2 * PAD;
  return { placed, width, height };
}

/** A label that fits a node: long task ids are cut with an ellipsis (the full id is the title). */
function fit(id: string): string {
  const max = 18;
  return id.length > max ? `${id.slice(0, max - 1)}…` : id;
}

/**
 * The graph of `tasks`; `selected` is outlined, and `onSelect` (when given) makes the nodes
 * clickable and focusable.
 */
export function Dag({
  tasks,
  selected,
  onSelect,
}: {
  tasks: DagTask[];
  selected?: string | null;
  onSelect?: (id: string) => void;
}) {
  if (tasks.length === 0) return <p class="muted">No tasks.</p>;
  const { placed, width, height } = layout(tasks);
  const edges: { from: Placed; to: Placed }[] = [];
  for (const to of placed.values()) {
    for (const up of to.task.dependsOn) {
      const from = placed.get(up);
      if (from) edges.push({ from, to });
    }
  }
  return (
    <div class="dag-wrap">
      <svg
        class="dag"
        role="img"
        aria-label={`task graph: ${tasks.length} tasks, ${edges.length} dependencies`}
        viewBox={`0 0 ${width} ${height}`}
        width={width}
        height={height}
      >
        <defs>
          <marker id="dag-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto">
            <path class="dag-arrow" d="M0,0 L8,4 L0,8 z" />
          </marker>
        </defs>
        {edges.map(({ from, to }) => {
          const x1 = from.x + NODE_W;
          const y1 = from.y + NODE_H / 2;
          const x2 = to.x;
          const y2 = to.y + NODE_H / 2;
          const bend = (x2 - x1) / 2;
          return (
            <path
              key={`${from.task.id}->${to.task.id}`}
              class="dag-edge"
              data-from={from.task.id}
              data-to={to.task.id}
              d={`M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`}
              marker-end="url(#dag-arrow)"
            />
          );
        })}
        {[...placed.values()].map(({ task, x, y }) => {
          const state = task.state ?? "declared";
          const classes = ["dag-node", `dag-${state}`, task.id === selected ? "selected" : "", onSelect ? "clickable" : ""];
          return (
            <g
              key={task.id}
              class={classes.filter(Boolean).join(" ")}
              data-task={task.id}
              data-state={state}
              transform={`translate(${x},${y})`}
              role={onSelect ? "button" : undefined}
              tabIndex={onSelect ? 0 : undefined}
              aria-label={task.state ? `${task.id}: ${task.state}` : task.id}
              onClick={onSelect ? () => onSelect(task.id) : undefined}
              onKeyDown={
                onSelect
                  ? (e) => {
                      if (e.key === "Enter" || e.key === " ") {
                        e.preventDefault();
                        onSelect(task.id);
                      }
                    }
                  : undefined
              }
            >
              <title>{task.state ? `${task.id}: ${task.state}` : task.id}</title>
              <rect width={NODE_W} height={NODE_H} rx="5" />
              <text class="dag-id" x="10" y={task.state ? 14 : NODE_H / 2 + 4}>
                {fit(task.id)}
              </text>
              {task.state ? (
                <text class="dag-state" x="10" y="27">
                  {task.state}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
    </div>
  );
}

// Line charts drawn as SVG: metrics over steps, drift over time. Colours are SVG presentation
// attributes, which the page's CSP allows (it forbids inline style attributes).
import { num, when } from "../format";

export interface Series {
  name: string;
  points: [number, number][];
}

export const PALETTE = [
  "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed",
  "#0891b2", "#db2777", "#4d7c0f", "#9333ea", "#64748b",
];

const W = 640;
const H = 240;
const PAD = { left: 56, right: 12, top: 10, bottom: 28 };

function ticks(min: number, max: number, count: number): number[] {
  if (min === max) return [min];
  const span = max - min;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

/** Series overlaid on one chart; `time` makes the x axis epoch milliseconds. */
export function LineChart({
  series,
  xLabel,
  time = false,
  threshold,
}: {
  series: Series[];
  xLabel: string;
  time?: boolean;
  threshold?: number;
}) {
  const finite = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  if (finite.length === 0) return <p class="muted">no finite values to chart</p>;
  let [x0, x1] = [Math.min(...finite.map((p) => p[0])), Math.max(...finite.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...finite.map((p) => p[1])), Math.max(...finite.map((p) => p[1]))];
  if (threshold !== undefined) [y0, y1] = [Math.min(y0, threshold), Math.max(y1, threshold)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.1, y1 + Math.abs(y1 || 1) * 0.1];
  const sx = (x: number) => PAD.left + ((x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const sy = (y: number) => H - PAD.bottom - ((y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const xt = time ? ticks(x0, x1, 4) : ticks(x0, x1, 6).filter((t) => Number.isInteger(t) || x1 - x0 < 6);
  const yt = ticks(y0, y1, 5);
  const xFmt = (x: number) => (time ? when(x).slice(5, 16) : num(x));
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${series.map((s) => s.name).join(", ")} by ${xLabel}`}>
        {yt.map((t) => (
          <g key={`y${t}`}>
            <line x1={PAD.left} x2={W - PAD.right} y1={sy(t)} y2={sy(t)} class="grid" />
            <text x={PAD.left - 6} y={sy(t) + 4} text-anchor="end" class="tick">
              {num(t)}
            </text>
          </g>
        ))}
        {xt.map((t) => (
          <text key={`x${t}`} x={sx(t)} y={H - PAD.bottom + 16} text-anchor="middle" class="tick">
            {xFmt(t)}
          </text>
        ))}
        <line x1={PAD.left} x2={W - PAD.right} y1={H - PAD.bottom} y2={H - PAD.bottom} class="axis" />
        {threshold !== undefined ? (
          <line x1={PAD.left} x2={W - PAD.right} y1={sy(threshold)} y2={sy(threshold)} class="threshold" />
        ) : null}
        {series.map((s, i) => {
          const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
          const colour = PALETTE[i % PALETTE.length];
          return (
            <g key={s.name}>
              <polyline
                fill="none"
                stroke={colour}
                stroke-width="1.6"
                points={pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")}
              />
              {pts.length <= 60
                ? pts.map(([x, y]) => (
                    <circle key={x} cx={sx(x)} cy={sy(y)} r="2.5" fill={colour}>
                      <title>{`${s.name} — ${xLabel} ${xFmt(x)}: ${num(y)}`}</title>
                    </circle>
                  ))
                : null}
            </g>
          );
        })}
        <text x={W - PAD.right} y={H - 2} text-anchor="end" class="tick">
          {xLabel}
        </text>
      </svg>
      {series.length > 1 ? (
        <figcaption class="legend">
          {series.map((s, i) => (
            <span key={s.name}>
              <svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true">
                <rect width="12" height="12" fill={PALETTE[i % PALETTE.length]} />
              </svg>
              {s.name}
            </span>
          ))}
        </figcaption>
      ) : null}
    </figure>
  );
}

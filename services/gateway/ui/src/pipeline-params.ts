// The parameters a pipeline declares. The API gives a pipeline's YAML source but not its params,
// so they are read from the source's top-level `params:` list. This reads the block style the
// docs and examples use (`- name: x` items with `type:`, `default:`, `description:` scalars) and
// one-line flow items (`- {name: x, type: int}`); anything else is left out, and the server
// still checks whatever is sent.

export type ParamKind = "string" | "int" | "float" | "bool";

export interface DeclaredParam {
  name: string;
  kind: ParamKind;
  /** The default as written (unquoted), or undefined when a trigger must give one. */
  default?: string;
  description: string;
}

/** A YAML scalar as text: quotes removed, a trailing comment dropped. */
function scalar(raw: string): string {
  const text = raw.trim();
  if (text.startsWith('"')) {
    const end = text.lastIndexOf('"');
    try {
      return JSON.parse(text.slice(0, end + 1)) as string;
    } catch {
      return text.slice(1, end > 0 ? end : undefined);
    }
  }
  if (text.startsWith("'")) {
    const end = text.lastIndexOf("'");
    return text.slice(1, end > 0 ? end : undefined).replace(/''/g, "'");
  }
  return text.replace(/\s+#.*$/, "");
}

function kindOf(text: string | undefined): ParamKind {
  return text === "int" || text === "float" || text === "bool" ? text : "string";
}

/** Splits `{a: 1, b: "x, y"}`'s inside at top-level commas. */
function flowPairs(inside: string): [string, string][] {
  const parts: string[] = [];
  let quote = "";
  let start = 0;
  for (let i = 0; i < inside.length; i++) {
    const c = inside[i];
    if (quote) {
      if (c === quote) quote = "";
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ",") {
      parts.push(inside.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(inside.slice(start));
  return parts
    .map((part) => {
      const colon = part.indexOf(":");
      return colon < 0 ? null : ([part.slice(0, colon).trim(), part.slice(colon + 1)] as [string, string]);
    })
    .filter((pair): pair is [string, string] => pair !== null);
}

export function declaredParams(source: string): DeclaredParam[] {
  const lines = source.split(/\r?\n/);
  const start = lines.findIndex((l) => /^params:\s*(#.*)?$/.test(l));
  if (start < 0) return [];
  const items: Record<string, string>[] = [];
  let item: Record<string, string> | undefined;
  for (const line of lines.slice(start + 1)) {
    if (/^\s*(#.*)?$/.test(line)) continue;
    // The next top-level key ends the list (its items may sit at column 0 too).
    if (/^[^\s-]/.test(line)) break;
    const entry = /^\s*-\s+(.*)$/.exec(line);
    let rest = line.trim();
    if (entry) {
      item = {};
      items.push(item);
      rest = entry[1].trim();
      if (rest.startsWith("{") && rest.endsWith("}")) {
        for (const [k, v] of flowPairs(rest.slice(1, -1))) item[k] = scalar(v);
        continue;
      }
    }
    const pair = /^([A-Za-z_][\w-]*):\s*(.*)$/.exec(rest);
    if (item && pair) item[pair[1]] = scalar(pair[2]);
  }
  return items
    .filter((i) => i.name)
    .map((i) => ({
      name: i.name,
      kind: kindOf(i.type),
      default: i.default === undefined || i.default === "" || i.default === "~" || i.default === "null" ? undefined : i.default,
      description: i.description ?? "",
    }));
}

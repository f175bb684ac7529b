import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError } from "../api/client";
import { ErrorText } from "./common";

/** A form's call to the server: whether it is running, and the server's refusal. */
export interface Submission {
  busy: boolean;
  error: ApiError | undefined;
  /** Runs `call`; a refusal is kept in `error` (and shown by the form), never thrown. */
  run: (call: () => Promise<unknown>) => Promise<boolean>;
  clear: () => void;
}

export function useSubmission(): Submission {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const run = async (call: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await call();
      return true;
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(String(e), 0, "internal"));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, clear: () => setError(undefined) };
}

/**
 * One labelled input of a form. When the server's refusal names this field (`ErrorBody.field`
 * equals `name`, or starts with it followed by `.` or `[`), its message shows here, beside
 * the input; otherwise the form shows it at its foot.
 */
export function Field({
  label,
  name,
  error,
  children,
}: {
  label: string;
  name: string;
  error: ApiError | undefined;
  children: ComponentChildren;
}) {
  const mine = error !== undefined && fieldMatches(error.field, name);
  return (
    <label class={mine ? "field invalid" : "field"}>
      <span class="field-label">{label}</span>
      {children}
      {mine ? <ErrorText error={error} /> : null}
    </label>
  );
}

function fieldMatches(field: string | undefined, name: string): boolean {
  if (!field) return false;
  return field === name || field.startsWith(`${name}.`) || field.startsWith(`${name}[`);
}

/** The refusal of a form when none of `fields` is the field it names. */
export function FormError({ error, fields }: { error: ApiError | undefined; fields: string[] }) {
  if (!error || fields.some((f) => fieldMatches(error.field, f))) return null;
  return <ErrorText error={error} />;
}

/** A "New …" button that opens its form in place; the form closes itself when it succeeds. */
export function Opener({ label, children }: { label: string; children: (close: () => void) => ComponentChildren }) {
  const [open, setOpen] = useState(false);
  if (!open)
    return (
      <button type="button" onClick={() => setOpen(true)}>
        {label}
      </button>
    );
  return (
    <div class="form-panel">
      {children(() => setOpen(false))}
      <button type="button" class="link" onClick={() => setOpen(false)}>
        Cancel
      </button>
    </div>
  );
}

import { useState } from "preact/hooks";
import { api, ApiError, must } from "../api/client";
import { ErrorText } from "../components/common";

/**
 * Sign-in with a pasted token: the server keeps it in an HttpOnly cookie, so no page script
 * ever holds it after this form is sent. `lathe standalone` also prints a one-time link.
 */
export function SignInPage({ notice, onSignedIn }: { notice?: string; onSignedIn: () => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await must(api.POST("/api/v1/session", { body: { token: token.trim() } }));
      setToken("");
      onSignedIn();
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>Sign in to Lathe</h1>
      {notice ? <p class="notice">{notice}</p> : null}
      <form onSubmit={submit}>
        <label for="token">Token</label>
        <textarea
          id="token"
          rows={4}
          autocomplete="off"
          spellcheck={false}
          placeholder="eyJ…"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <div class="row">
          <button type="submit" disabled={busy || token.trim() === ""}>
            Sign in
          </button>
          <ErrorText error={error} />
        </div>
      </form>
      <p class="muted">
        Make a token with <code>lathe token create --subject you --role viewer</code>, or open the one-time
        sign-in link <code>lathe standalone</code> prints.
      </p>
    </main>
  );
}

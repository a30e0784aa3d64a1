// @ts-check
/**
 * The read token of a server started with `--read-token-file`. The page
 * asks for it once, when the server first answers 401, and keeps it in
 * `sessionStorage`: for this tab only, gone when the tab closes, never in
 * the URL or a cookie. It goes with every API request as
 * `Authorization: Bearer TOKEN`, and with the live feed as the WebSocket
 * subprotocol `vigia.token.TOKEN` next to `vigia.live` (a browser cannot set
 * a header on a WebSocket). A server without read tokens never asks.
 *
 * How the person is asked is the page's business (`token_dialog.js`, set
 * with {@linkcode onTokenNeeded}); this module holds no DOM code.
 *
 * @module
 */

const KEY = "vigia.read-token";
/** The subprotocol the live feed answers with. */
export const LIVE_PROTOCOL = "vigia.live";

/** @returns {string | undefined} */
function stored() {
  return sessionStorage.getItem(KEY) ?? undefined;
}

/**
 * Headers that carry the token, if there is one.
 * @returns {Record<string, string>}
 */
export function authHeaders() {
  const token = stored();
  return token === undefined ? {} : { Authorization: `Bearer ${token}` };
}

/**
 * Subprotocols for `/api/live`: `vigia.live`, and the token when there is one.
 * @returns {string[]}
 */
export function liveProtocols() {
  const token = stored();
  return token === undefined ? [LIVE_PROTOCOL] : [LIVE_PROTOCOL, `vigia.token.${token}`];
}

/** @typedef {(refused: boolean) => Promise<string>} TokenPrompt */

/** @type {TokenPrompt | undefined} */
let prompt;
/** @type {Promise<void> | undefined} */
let asking;

/**
 * Sets how the person is asked; `refused` says a token was sent and refused.
 * @param {TokenPrompt} ask
 */
export function onTokenNeeded(ask) {
  prompt = ask;
}

/**
 * The server refused the token in hand, or there was none: asks for one,
 * once however many requests were refused together. Resolves when a token
 * is stored; rejects when the page has no way to ask.
 * @returns {Promise<void>}
 */
export function askForToken() {
  if (prompt === undefined) return Promise.reject(new Error("Cannot read: a token is required"));
  const ask = prompt;
  asking ??= (async () => {
    const refused = stored() !== undefined;
    sessionStorage.removeItem(KEY);
    try {
      sessionStorage.setItem(KEY, await ask(refused));
    } finally {
      asking = undefined;
    }
  })();
  return asking;
}

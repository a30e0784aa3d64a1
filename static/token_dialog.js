// @ts-check
/**
 * The page's way of asking for the read token (`token.js`): the modal
 * `#token-dialog`, which cannot be dismissed, since the page shows nothing
 * without a token.
 *
 * @module
 */

/**
 * A prompt for `onTokenNeeded` on `dialog` (a form with one input and an
 * element `.refused` shown after a refusal).
 * @param {HTMLDialogElement} dialog
 * @returns {(refused: boolean) => Promise<string>}
 */
export function tokenPrompt(dialog) {
  const form = /** @type {HTMLFormElement} */ (dialog.querySelector("form"));
  const input = /** @type {HTMLInputElement} */ (dialog.querySelector("input"));
  const refused = /** @type {HTMLElement} */ (dialog.querySelector(".refused"));
  dialog.addEventListener("cancel", (event) => event.preventDefault());
  return (wasRefused) =>
    new Promise((resolve) => {
      refused.hidden = !wasRefused;
      form.onsubmit = (event) => {
        event.preventDefault();
        const token = input.value.trim();
        if (token === "") return;
        input.value = "";
        dialog.close();
        resolve(token);
      };
      dialog.showModal();
      input.focus();
    });
}

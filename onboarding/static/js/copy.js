// The Copy button: the clipboard where the browser allows it, else the text selected so
// Ctrl+C / the phone's menu copies it.
(function () {
  "use strict";
  const button = document.getElementById("copy");
  if (!button) return;
  const field = document.getElementById(button.dataset.target);
  const said = document.getElementById("copied");
  button.addEventListener("click", async () => {
    field.focus();
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      said.textContent = "Copied. Paste it into your app.";
    } catch (err) {
      said.textContent = "Selected: press Ctrl+C (or use your phone's Copy) to copy it.";
    }
  });
})();
